/**
 * Reading `text/event-stream` responses (graphql-sse's "distinct connections" mode) in tests:
 * one parser for the streaming readers and the whole-body reader. Format: blocks separated by a
 * blank line, `event:` and `data:` lines (WHATWG HTML, "Server-sent events").
 */

/** One server-sent event: its `event` name (default `message`) and its joined `data` lines. */
export interface SseEvent {
  event: string;
  data: string;
}

/** The event of one block, or undefined for a block with neither data nor a name (a `:` comment). */
function parseBlock(block: string): SseEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return data.length || event !== "message" ? { event, data: data.join("\n") } : undefined;
}

/** Every event of a whole event-stream body. */
export function parseSse(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .map(parseBlock)
    .filter((e): e is SseEvent => e !== undefined);
}

/**
 * Reads `res.body` as it arrives, calling `onEvent` for each event; resolves when the stream
 * ends or is aborted (an abort is the caller's way to stop, not an error).
 */
export async function readSse(res: Response, onEvent: (e: SseEvent) => void): Promise<void> {
  const reader = res.body?.getReader();
  if (!reader) return;
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const e = parseBlock(buf.slice(0, i));
        buf = buf.slice(i + 2);
        if (e) onEvent(e);
      }
    }
  } catch {
    // aborted
  }
}
