import type { Generated } from "kysely";
import type { OrderStatus } from "./types.ts";
import type { SagaStatus, SagaStep } from "./saga.ts";

/**
 * The order database's tables (see migrations.ts) as both stores see them. Timestamps are
 * ISO-8601 UTC strings; money and `lease_until` (epoch ms) are numbers on both databases.
 */
export interface OrderTables {
  orders: {
    seq: Generated<number>;
    id: string;
    account_id: string;
    status: OrderStatus;
    total_cents: number;
    currency: string;
    created_at: string;
  };
  order_items: {
    order_id: string;
    position: number;
    product_id: string;
    quantity: number;
    unit_price_cents: number;
    currency: string;
  };
  payment_sagas: {
    order_id: string;
    payment_id: string;
    account_id: string;
    token: string;
    amount_cents: number;
    currency: string;
    step: SagaStep;
    status: SagaStatus;
    failure_code: string | null;
    failure_message: string | null;
    authorize_key: string;
    capture_key: string;
    void_key: string;
    refund_key: string;
    attempts: number;
    lease_until: number;
    created_at: string;
    updated_at: string;
  };
  reservation_intents: {
    order_id: string;
    created_at: string;
    account_id: string | null;
    swept_at: string | null;
  };
}
