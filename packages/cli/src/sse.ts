/** One server-sent event: its name (`message` when none was given) and its data lines joined by \n. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * The events of a text/event-stream body, as they arrive (the WHATWG rules the API uses: `event:`
 * and `data:` fields, a blank line ends an event, `:` lines are comments such as heartbeats).
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A line ends with \n, \r\n or \r; a \r at the very end may be half of a \r\n still to come.
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        if (c === '\r' && i === buffer.length - 1 && !done) break;
        const line = buffer.slice(start, i);
        if (c === '\r' && buffer[i + 1] === '\n') i++;
        start = i + 1;
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      buffer = buffer.slice(start);
      // An event not ended by a blank line when the stream closes is dropped, as browsers do.
      if (done) return;
    }
  } finally {
    // Left early (the caller stopped following): the connection is closed, not left to drain.
    await reader.cancel().catch(() => {});
  }
}
