import '@xterm/xterm/css/xterm.css';
import { LiveSocket, type components } from '@cordon/api-client';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef } from 'react';
import { api, messageOf, ok } from '../api';
import { completeLine, edit, emptyLine, render, type LineState } from '../line-editor';

export type LiveCommand = components['schemas']['LiveCommand'];
export type LiveSessionState = components['schemas']['LiveSession']['state'];

/** A line of the session as the side panel lists it: running until its `done` arrives. */
export interface CommandRow {
  seq: number;
  line: string;
  issuedBy: string;
  status: LiveCommand['status'];
  exitStatus: number | null;
}

const RED = (s: string) => `\x1b[31m${s}\x1b[0m`;
const DIM = (s: string) => `\x1b[2m${s}\x1b[0m`;
const YELLOW = (s: string) => `\x1b[33m${s}\x1b[0m`;
const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
const promptOf = (cwd: string) => `${cwd}$ `;
/** Keystrokes typed in a shell within this long go as one input chunk. */
const SHELL_BATCH_MS = 10;
/** The most one input chunk carries (the API's limit). */
const MAX_INPUT_CHARS = 4096;
const isShellLine = (line: string) => line.trim().split(/\s+/)[0] === 'shell';

/**
 * A live-response session's terminal, over the session's one WebSocket: its events (everything so
 * far, then live) written to an xterm, and, for the session's opener, a prompt and line editor whose
 * lines are sent on the socket as the session's commands (Ctrl-C cancels the running one). Anyone
 * else follows read-only. The events replay from the start after a reconnect: what was already
 * shown is skipped. While a `shell`
 * line runs, the xterm is its terminal: every key goes to it as it is (batched ~10 ms), a resize
 * goes as a resize, and its output is written raw; the line editor is back when it ends.
 */
export function LiveTerminal({
  sessionId,
  state,
  endReason,
  canType,
  me,
  onCommand,
  onStateEvent,
}: {
  sessionId: string;
  state: LiveSessionState;
  endReason: string | null;
  canType: boolean;
  me: string;
  onCommand: (row: CommandRow) => void;
  onStateEvent: () => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  // What the stream and the keyboard share, kept out of React state: xterm is written imperatively.
  const ctl = useRef<{ setState: (state: LiveSessionState, endReason: string | null) => void } | null>(null);
  const callbacks = useRef({ onCommand, onStateEvent });
  callbacks.current = { onCommand, onStateEvent };

  useEffect(() => {
    const term = new Terminal({ convertEol: false, cursorBlink: canType, disableStdin: !canType, fontSize: 13, scrollback: 5000, fontFamily: 'ui-monospace, Menlo, Consolas, monospace' });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current!);
    fit.fit();
    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(host.current!);

    let line: LineState = emptyLine();
    let cwd = '/';
    let active = false;
    let ended = false;
    let running: number | null = null;
    /** Lines sent by this page whose `command` event has not come yet: they are already on screen. */
    const sent: string[] = [];
    let promptShown = false;
    /** Keys typed while a line runs: applied once the prompt is back, as a shell does. */
    let typeahead = '';
    // Replay dedupe: what was written per seq, and what this connection has replayed so far.
    const seenCommands = new Set<number>();
    const doneSeqs = new Set<number>();
    const written = new Map<number, number>();
    let replayed = new Map<number, number>();
    /** Lines that are shells (their output is a terminal's), and the one the keyboard types in now. */
    const shells = new Set<number>();
    let shellSeq: number | null = null;
    let keys = '';
    let keyTimer: number | undefined;
    const postInput = (seq: number, body: { data?: string; cols?: number; rows?: number }) => {
      // In order on the one socket: the server numbers the chunks as they come.
      socket.input(seq, body).catch((e: unknown) => {
        // A shell that ended meanwhile refuses what was typed after it: its `done` says the rest.
        if (shellSeq === seq && !ended) term.write(RED(`\r\nInput not sent: ${crlf(messageOf(e))}`) + '\r\n');
      });
    };
    const flushKeys = () => {
      window.clearTimeout(keyTimer);
      keyTimer = undefined;
      if (shellSeq !== null) for (let i = 0; i < keys.length; i += MAX_INPUT_CHARS) postInput(shellSeq, { data: keys.slice(i, i + MAX_INPUT_CHARS) });
      keys = '';
    };
    const typeInShell = (data: string) => {
      keys += data;
      if (keys.length >= MAX_INPUT_CHARS) flushKeys();
      else keyTimer ??= window.setTimeout(flushKeys, SHELL_BATCH_MS);
    };
    const resized = term.onResize(({ cols, rows }) => {
      if (canType && shellSeq !== null && !ended) postInput(shellSeq, { cols, rows });
    });

    const busy = () => running !== null || sent.length > 0;
    const hidePrompt = () => {
      if (promptShown) term.write('\r\x1b[K');
      promptShown = false;
    };
    const maybePrompt = () => {
      if (!canType || !active || ended || busy() || promptShown) return;
      term.write(render(promptOf(cwd), line));
      promptShown = true;
      if (typeahead) {
        const keys = typeahead;
        typeahead = '';
        feed(keys);
      }
    };
    const end = (reason: string | null) => {
      if (ended) return;
      hidePrompt();
      ended = true;
      running = null;
      term.write(YELLOW(`Session ended${reason && reason !== 'Ended' ? `: ${reason}` : ''}`) + '\r\n\x1b[?25l');
      term.options.cursorBlink = false;
      socket.close();
    };
    const setState = (s: LiveSessionState, reason: string | null) => {
      if (s === 'Ended') end(reason);
      else if (s === 'Active' && !active) {
        active = true;
        maybePrompt();
      }
    };
    ctl.current = { setState };

    const send = (text: string) => {
      sent.push(text);
      promptShown = false;
      // A shell gets this terminal's size.
      const size = isShellLine(text) ? { cols: term.cols, rows: term.rows } : undefined;
      socket.run(text, size).catch((e: unknown) => {
        if (ended) return;
        const i = sent.indexOf(text);
        if (i >= 0) sent.splice(i, 1);
        term.write(RED(crlf(messageOf(e))) + '\r\n');
        maybePrompt();
      });
    };
    const cancel = () => {
      if (running === null) return;
      socket.cancel(running).catch((e: unknown) => {
        if (!ended) term.write(RED(`Could not cancel: ${messageOf(e)}`) + '\r\n');
      });
    };
    /** The path completion being asked, and where the last one left the line (a second Tab there lists the names). */
    let completing = false;
    /** A Tab pressed while the device was still answering the last one: asked again after it (a quick double Tab lists). */
    let tabAgain = false;
    let lastTab: { text: string; cursor: number } | null = null;
    const complete = (path: string) => {
      if (completing) {
        tabAgain = true;
        return;
      }
      completing = true;
      const asked = { text: line.text, cursor: line.cursor };
      const list = lastTab?.text === asked.text && lastTab.cursor === asked.cursor;
      ok(api.POST('/api/liveResponseSessions/{id}/complete', { params: { path: { id: sessionId } }, body: { path } }))
        .then((answer) => {
          // Typing goes on while the device answers: an answer for a line that changed since is dropped.
          if (line.text !== asked.text || line.cursor !== asked.cursor || !promptShown || busy() || ended) return;
          const r = completeLine(line, answer, promptOf(cwd), list);
          line = r.state;
          if (r.output) term.write(r.output);
          lastTab = { text: line.text, cursor: line.cursor };
        })
        // No completion (device slow or offline, Tab pressed too fast): the line stays as typed.
        .catch(() => undefined)
        .finally(() => {
          completing = false;
          if (tabAgain) {
            tabAgain = false;
            if (promptShown && !busy() && !ended) feed('\t');
          }
        });
    };
    /** Applies keys at the prompt; what follows a sent line waits for the next prompt. */
    function feed(data: string) {
      const r = edit(line, data, promptOf(cwd), false);
      line = r.state;
      if (r.output) term.write(r.output);
      if (!data.includes('\t')) {
        lastTab = null;
        tabAgain = false;
      }
      for (const a of r.actions) {
        if (a.kind === 'send') send(a.line);
        else if (a.kind === 'complete') complete(a.path);
      }
      typeahead = r.rest + typeahead;
    }
    const input = term.onData((data) => {
      if (!canType || ended) return;
      if (shellSeq !== null) return typeInShell(data);
      if (busy()) {
        // Ctrl-C stops the running line and drops what was typed ahead.
        if (data.includes('\x03')) {
          typeahead = '';
          cancel();
        } else typeahead += data;
        return;
      }
      if (active) feed(data);
    });

    const onCommandEvent = (c: { seq: number; line: string; command?: string; issuedBy: string }) => {
      if (seenCommands.has(c.seq)) return;
      seenCommands.add(c.seq);
      if ((c.command ?? '') === 'shell' || isShellLine(c.line)) {
        shells.add(c.seq);
        if (!doneSeqs.has(c.seq)) {
          shellSeq = c.seq;
          // What was typed ahead of the shell's start is its first input.
          if (canType && typeahead) typeInShell(typeahead);
          typeahead = '';
        }
      }
      if (sent[0] === c.line && c.issuedBy === me) sent.shift();
      else {
        hidePrompt();
        term.write(`${promptOf(cwd)}${c.line}\r\n`);
      }
      running = c.seq;
      callbacks.current.onCommand({ seq: c.seq, line: c.line, issuedBy: c.issuedBy, status: 'Running', exitStatus: null });
    };
    const onOutput = (o: { seq: number; text: string }) => {
      const n = (replayed.get(o.seq) ?? 0) + 1;
      replayed.set(o.seq, n);
      if (n <= (written.get(o.seq) ?? 0)) return;
      written.set(o.seq, n);
      hidePrompt();
      // A shell's output is a terminal's already (its line ends, its escape sequences).
      term.write(shells.has(o.seq) ? o.text : crlf(o.text));
    };
    const onDone = (d: LiveCommand) => {
      if (doneSeqs.has(d.seq)) return;
      doneSeqs.add(d.seq);
      hidePrompt();
      if (shellSeq === d.seq) {
        flushKeys();
        shellSeq = null;
        // Back to the line editor on a line of its own.
        term.write('\x1b[0m\r\n');
      }
      if (d.status !== 'Succeeded' || (d.exitStatus ?? 0) !== 0) {
        const why = d.error ? `: ${d.error}` : '';
        term.write((d.status === 'Failed' || d.status === 'TimedOut' ? RED : DIM)(`[${d.status}, exit ${d.exitStatus ?? '?'}${crlf(why)}]`) + '\r\n');
      }
      if (d.truncated) term.write(DIM('[output cut: over the command’s budget; the transcript keeps what was kept]') + '\r\n');
      if (d.cwd) cwd = d.cwd;
      if (running === d.seq) running = null;
      callbacks.current.onCommand({ seq: d.seq, line: d.line, issuedBy: d.issuedBy, status: d.status, exitStatus: d.exitStatus });
      maybePrompt();
    };
    const socket = new LiveSocket({
      connect: () => new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/liveResponseSessions/${sessionId}/socket`),
      onOpen: () => {
        replayed = new Map();
      },
      onEvent: (type, data) => {
        if (type === 'command') onCommandEvent(data as Parameters<typeof onCommandEvent>[0]);
        else if (type === 'output') onOutput(data as { seq: number; text: string });
        else if (type === 'done') onDone(data as LiveCommand);
        else {
          const s = data as { state: LiveSessionState; endReason: string | null };
          setState(s.state, s.endReason);
          callbacks.current.onStateEvent();
        }
      },
      // The session or the sign-in is gone: said once, and nothing more comes.
      onGone: (e) => {
        if (!ended) term.write(RED(crlf(messageOf(e))) + '\r\n');
      },
      probe: () => ok(api.GET('/api/liveResponseSessions/{id}', { params: { path: { id: sessionId } } })),
    });
    if (canType) term.focus();

    return () => {
      ctl.current = null;
      // Unmounted: what the socket still answers is not written.
      ended = true;
      socket.close();
      input.dispose();
      resized.dispose();
      window.clearTimeout(keyTimer);
      resize.disconnect();
      term.dispose();
    };
    // One terminal per session and role: the page remounts it when either changes.
  }, [sessionId, canType, me]);

  // The session's state as the API reports it too (the stream only tells changes).
  useEffect(() => {
    ctl.current?.setState(state, endReason);
  }, [state, endReason]);

  return <div ref={host} data-testid="live-terminal" style={{ height: '100%', minHeight: 360, background: '#000', padding: 4 }} />;
}
