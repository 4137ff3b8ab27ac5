import { newId } from "../../kernel/index.ts";
import type { CatalogStore, NewCategory } from "./storage/types.ts";

/** A demo product without ids (those are generated at seed time). */
export interface DemoProduct {
  name: string;
  /** One to three sentences; what full-text search sees besides the name. */
  description: string;
  /** Unit price, integer cents (USD). */
  priceCents: number;
  /** Units in stock. */
  stock: number;
}

/** A demo category and its products. */
export interface DemoCategory {
  name: string;
  products: readonly DemoProduct[];
}

/** Currency of every demo price. */
export const DEMO_CURRENCY = "USD";

/** Name of the scarce product (stock {@link LIMITED_MUG_STOCK}) the concurrency tests order. */
export const LIMITED_MUG_NAME = "Limited Edition Enamel Camp Mug";
export const LIMITED_MUG_STOCK = 10;

/** The demo catalog: 56 products in 8 categories. */
export const DEMO_CATALOG: readonly DemoCategory[] = [
  {
    name: "Coffee & Tea",
    products: [
      {
        name: "Stovetop Espresso Maker",
        description:
          "Six-cup aluminium moka pot that brews rich, concentrated coffee on gas, electric or ceramic hobs. The flip-top lid and heat-resistant handle make pouring safe.",
        priceCents: 3499,
        stock: 40,
      },
      {
        name: "Conical Burr Coffee Grinder",
        description:
          "Forty grind settings from coarse French press to powder-fine espresso. Stainless steel conical burrs keep the beans cool and the flavour intact.",
        priceCents: 8999,
        stock: 25,
      },
      {
        name: "Ethiopia Yirgacheffe Whole Bean Coffee",
        description:
          "Light roast single-origin beans with notes of jasmine, bergamot and ripe blueberry. Roasted in small batches and shipped within two days of roasting.",
        priceCents: 2450,
        stock: 120,
      },
      {
        name: "Dark Roast Italian Blend",
        description:
          "Chocolatey, low-acid blend of Brazilian and Indian beans built for espresso and milk drinks. Ground to order or sold as whole beans.",
        priceCents: 1950,
        stock: 95,
      },
      {
        name: "Gooseneck Pour-Over Kettle",
        description:
          "Electric kettle with a precision spout and temperature control in one-degree steps, for pour-over coffee and green tea alike. Holds the set temperature for up to an hour.",
        priceCents: 6900,
        stock: 35,
      },
      {
        name: "Japanese Sencha Green Tea",
        description:
          "First-flush loose-leaf sencha from Shizuoka, steamed to keep its grassy sweetness. Brew at seventy degrees for a bright, umami-rich cup.",
        priceCents: 1600,
        stock: 80,
      },
      {
        name: "Milk Frother Wand",
        description:
          "Battery-powered whisk that turns warm milk into silky microfoam for lattes and cappuccinos in under thirty seconds. Works with oat and almond milk too.",
        priceCents: 1299,
        stock: 150,
      },
      {
        name: "Double-Wall Espresso Glasses",
        description: "Set of four 80 ml borosilicate glasses that keep a shot hot and your fingers cool. Dishwasher safe.",
        priceCents: 2600,
        stock: 70,
      },
      {
        name: "Cold Brew Pitcher",
        description:
          "A 1.5-litre glass pitcher with a fine mesh filter for steeping coarse grounds overnight in the fridge. Makes a smooth concentrate for a week of iced coffee.",
        priceCents: 2999,
        stock: 60,
      },
    ],
  },
  {
    name: "Kitchen",
    products: [
      {
        name: "Cast Iron Skillet",
        description:
          "Pre-seasoned ten-inch pan that goes from stovetop to oven to campfire. Holds heat evenly for a perfect sear on steaks and cornbread.",
        priceCents: 3999,
        stock: 45,
      },
      {
        name: "Chef's Knife",
        description:
          "Eight-inch blade forged from high-carbon German steel with a full tang and a balanced pakkawood handle. Sharp out of the box and easy to hone.",
        priceCents: 7900,
        stock: 30,
      },
      {
        name: "End-Grain Cutting Board",
        description:
          "Walnut end-grain board that is gentle on knife edges and hides its own cut marks. Finished with food-safe mineral oil and beeswax.",
        priceCents: 8500,
        stock: 20,
      },
      {
        name: "Digital Kitchen Scale",
        description:
          "Weighs up to five kilograms in one-gram steps, with a tare button for baking by weight. The flat glass top wipes clean in seconds.",
        priceCents: 2199,
        stock: 90,
      },
      {
        name: "Enamelled Dutch Oven",
        description:
          "Heavy 5.5-quart cast iron pot for braises, stews and crusty no-knead bread. The tight lid self-bastes and the glossy interior resists stains.",
        priceCents: 17900,
        stock: 15,
      },
      {
        name: "Silicone Spatula Set",
        description:
          "Three heat-resistant spatulas moulded in one piece, so nothing hides between head and handle. Safe up to 260 degrees and on nonstick cookware.",
        priceCents: 1499,
        stock: 200,
      },
      {
        name: "Stoneware Fermentation Crock",
        description:
          "Water-sealed crock with weighting stones for sauerkraut, kimchi and pickles. Keeps oxygen out while letting fermentation gases escape.",
        priceCents: 5400,
        stock: 18,
      },
    ],
  },
  {
    name: "Outdoor",
    products: [
      {
        name: LIMITED_MUG_NAME,
        description:
          "Hand-dipped enamel steel mug in a numbered run of speckled midnight blue. Light enough for the trail and tough enough for the campfire.",
        priceCents: 2400,
        stock: LIMITED_MUG_STOCK,
      },
      {
        name: "Ultralight Backpacking Tent",
        description:
          "Two-person, three-season shelter that packs down to the size of a water bottle and weighs 1.1 kg. Freestanding poles and two vestibules keep gear dry.",
        priceCents: 34900,
        stock: 12,
      },
      {
        name: "Down Sleeping Bag",
        description:
          "Responsibly sourced 800-fill goose down rated to minus five degrees Celsius. Compresses into the included stuff sack for multi-day hikes.",
        priceCents: 28900,
        stock: 14,
      },
      {
        name: "Titanium Camping Stove",
        description:
          "Pocket-sized canister burner that boils a litre of water in about three and a half minutes. Piezo ignition means no matches needed.",
        priceCents: 5900,
        stock: 40,
      },
      {
        name: "Rechargeable Headlamp",
        description:
          "A 400-lumen lamp with a red night-vision mode and a lockout that stops it switching on in your pack. USB-C charging, about eight hours on medium.",
        priceCents: 3900,
        stock: 70,
      },
      {
        name: "Insulated Water Bottle",
        description:
          "Vacuum-insulated stainless steel keeps drinks cold for 24 hours or hot for 12. The leakproof one-litre lid has a carry loop for clipping to a pack.",
        priceCents: 3200,
        stock: 110,
      },
      {
        name: "Carbon Trekking Poles",
        description:
          "Carbon fibre pair with cork grips and quick flick-locks, adjustable from 100 to 135 cm. Reduce strain on the knees during long descents.",
        priceCents: 11900,
        stock: 22,
      },
    ],
  },
  {
    name: "Books",
    products: [
      {
        name: "The Pragmatic Programmer",
        description:
          "A classic guide to software craftsmanship covering tracer bullets, orthogonality and the habits of effective developers. Twentieth anniversary edition.",
        priceCents: 4299,
        stock: 35,
      },
      {
        name: "Designing Data-Intensive Applications",
        description:
          "A deep tour of replication, partitioning, transactions and stream processing that explains the trade-offs behind modern databases.",
        priceCents: 4999,
        stock: 28,
      },
      {
        name: "Salt, Fat, Acid, Heat",
        description:
          "An illustrated cookbook teaching the four elements of good cooking, so you can improvise confidently without recipes.",
        priceCents: 3500,
        stock: 40,
      },
      {
        name: "The Hidden Life of Trees",
        description: "A forester explains how trees communicate, share nutrients through fungal networks and care for their young.",
        priceCents: 1800,
        stock: 50,
      },
      {
        name: "A Field Guide to Mushrooms",
        description: "Over 700 species photographed in their habitat, with notes on edibility and dangerous look-alikes for foragers.",
        priceCents: 2600,
        stock: 25,
      },
      {
        name: "The Art of Fermentation",
        description: "An in-depth exploration of fermenting vegetables, dairy, grains and beverages, from sourdough to kombucha.",
        priceCents: 3900,
        stock: 20,
      },
      {
        name: "Atlas of Remote Islands",
        description: "Fifty islands you will never visit, each with a hand-drawn map and a short, strange story from its history.",
        priceCents: 2200,
        stock: 30,
      },
    ],
  },
  {
    name: "Electronics",
    products: [
      {
        name: "Noise-Cancelling Headphones",
        description:
          "Over-ear wireless headphones with adaptive cancellation and thirty hours of battery life. They fold flat for travel and pair with two devices at once.",
        priceCents: 24900,
        stock: 25,
      },
      {
        name: "Tenkeyless Mechanical Keyboard",
        description:
          "Hot-swappable switches, PBT keycaps and a solid aluminium case in a compact layout without the number pad. Connects over USB-C or Bluetooth.",
        priceCents: 12900,
        stock: 30,
      },
      {
        name: "Portable Bluetooth Speaker",
        description: "Waterproof speaker with rich bass and twelve hours of playback, rated IP67 so it survives a drop in the pool.",
        priceCents: 7900,
        stock: 55,
      },
      {
        name: "E-Ink Reader",
        description:
          "Glare-free six-inch display with an adjustable warm light that reads like paper, even in direct sunlight. A single charge lasts for weeks.",
        priceCents: 13900,
        stock: 40,
      },
      {
        name: "100 W USB-C Charger",
        description:
          "Four-port gallium nitride charger that powers a laptop, a tablet and two phones at once while staying cool. Foldable plug for travel.",
        priceCents: 5900,
        stock: 85,
      },
      {
        name: "Smart Plug Two-Pack",
        description:
          "Wi-Fi plugs that put lamps and fans on a schedule or under voice control, with energy monitoring in the app. No hub required.",
        priceCents: 2999,
        stock: 120,
      },
      {
        name: "Wireless Earbuds",
        description:
          "True wireless earbuds with a pocketable charging case, sweat resistance for workouts and clear microphones for calls.",
        priceCents: 8900,
        stock: 0,
      },
    ],
  },
  {
    name: "Home Office",
    products: [
      {
        name: "Ergonomic Office Chair",
        description:
          "Fully adjustable mesh chair with lumbar support, 4D armrests and a synchronised tilt that follows your posture through the workday.",
        priceCents: 39900,
        stock: 10,
      },
      {
        name: "Standing Desk Frame",
        description:
          "Dual-motor electric frame that lifts from 62 to 127 cm with four memory presets. Fits desktops from 120 to 180 cm wide.",
        priceCents: 44900,
        stock: 8,
      },
      {
        name: "Monitor Arm",
        description:
          "Gas-spring arm for screens up to 32 inches that clamps to the desk edge and frees up workspace. Cable channels keep wires tidy.",
        priceCents: 10900,
        stock: 40,
      },
      {
        name: "LED Desk Lamp",
        description: "Dimmable lamp with colour temperature from warm 2700 K to daylight 6500 K, plus a USB port for charging a phone.",
        priceCents: 4900,
        stock: 65,
      },
      {
        name: "Merino Felt Desk Mat",
        description: "Large wool felt mat that protects the desk surface and gives the mouse a smooth glide. Non-slip cork underside.",
        priceCents: 3900,
        stock: 75,
      },
      {
        name: "Dot Grid Notebook",
        description:
          "Lay-flat A5 journal with 160 numbered pages of 100 gsm paper that resists ink bleed, plus an index and two ribbon markers.",
        priceCents: 1999,
        stock: 150,
      },
      {
        name: "Cable Management Tray",
        description:
          "Under-desk steel tray that hides power strips and adapters, mounted with four short screws and no drilling through the top.",
        priceCents: 2900,
        stock: 60,
      },
    ],
  },
  {
    name: "Fitness",
    products: [
      {
        name: "Adjustable Dumbbells",
        description: "A pair of weights that dial from 2 to 24 kg each, replacing fifteen sets of iron in a corner of the room.",
        priceCents: 34900,
        stock: 10,
      },
      {
        name: "Natural Rubber Yoga Mat",
        description:
          "Six-millimetre mat with a grippy polyurethane top that stays put during hot yoga and vinyasa flows. Alignment lines help with positioning.",
        priceCents: 7900,
        stock: 45,
      },
      {
        name: "Resistance Band Set",
        description:
          "Five latex bands from extra light to extra heavy with handles, ankle straps and a door anchor for full-body workouts at home.",
        priceCents: 2999,
        stock: 100,
      },
      {
        name: "High-Density Foam Roller",
        description: "Textured roller for releasing tight calves, quads and back muscles after a run or a long day at the desk.",
        priceCents: 2499,
        stock: 80,
      },
      {
        name: "Speed Jump Rope",
        description: "Ball-bearing handles and an adjustable steel cable, built for double-unders and conditioning circuits.",
        priceCents: 1599,
        stock: 90,
      },
      {
        name: "Cast Iron Kettlebell",
        description: "Single-piece 16 kg bell with a wide, smooth handle for swings, cleans and Turkish get-ups.",
        priceCents: 5900,
        stock: 30,
      },
    ],
  },
  {
    name: "Garden",
    products: [
      {
        name: "Heirloom Tomato Seed Collection",
        description:
          "Six open-pollinated varieties including Brandywine and Cherokee Purple, with growing notes for each. Save seeds from this harvest for the next.",
        priceCents: 1499,
        stock: 140,
      },
      {
        name: "Stainless Steel Hand Trowel",
        description: "Mirror-polished blade that slices through clay soil without rusting, fitted to an ash wood handle.",
        priceCents: 2299,
        stock: 70,
      },
      {
        name: "Galvanised Raised Garden Bed",
        description: "Steel planter, 180 by 90 cm and 30 cm deep, that assembles without tools and will not rot like timber.",
        priceCents: 8900,
        stock: 20,
      },
      {
        name: "Ventilated Compost Bin",
        description:
          "A 300-litre bin that turns kitchen scraps and garden waste into rich soil in a few months. A hatch at the base makes harvesting easy.",
        priceCents: 6900,
        stock: 25,
      },
      {
        name: "Bypass Pruning Shears",
        description: "Secateurs with hardened steel blades and a rotating handle that reduces hand fatigue when deadheading roses.",
        priceCents: 3400,
        stock: 55,
      },
      {
        name: "Recycled Rubber Soaker Hose",
        description:
          "Fifteen metres of porous hose that seeps water slowly along its length straight to plant roots, using far less than a sprinkler.",
        priceCents: 2799,
        stock: 45,
      },
    ],
  },
];

/**
 * Seeds {@link DEMO_CATALOG} with fresh KSUIDs when the catalog has no products yet (first
 * start), in one transaction.
 * @param now creation time stamped on every product.
 * @returns the number of products inserted; 0 when the catalog already had products.
 */
export async function seedDemoCatalog(store: CatalogStore, now: Date = new Date()): Promise<number> {
  const createdAt = now.toISOString();
  const categories: NewCategory[] = DEMO_CATALOG.map((c) => ({
    id: newId(),
    name: c.name,
    products: c.products.map((p) => ({ id: newId(), ...p, currency: DEMO_CURRENCY, createdAt })),
  }));
  return store.seedIfEmpty(categories);
}
