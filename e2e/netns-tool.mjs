// A tiny network peer for the namespace test bed, run inside a namespace with nsenter.
// Reads commands on stdin, one per line, and answers each with one line on stdout:
//   listen HOST PORT        -> "listening" (accepts and echoes; keeps listening)
//   connect HOST PORT [MS]  -> "ok" or "fail CODE" (a TCP connect with a time limit; "fail ETIMEDOUT" when it ran out)
//   connectfrom LADDR LPORT HOST PORT [MS] -> as connect, from that local address and port
//   open NAME HOST PORT     -> "opened" (keeps the connection under NAME) or "fail CODE"
//   echo NAME TEXT          -> "echo TEXT" when the echo server answers on that connection, else "fail …"
//   forward UNIXPATH HOST PORT -> "forwarding" (unix socket -> TCP, so the host can reach a namespace's loopback)
//   probe HOST PORT         -> streams "probe START END ok|fail CODE" lines, a connection every ~2 ms, until "stop"
import { createServer, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { clearTimeout, setTimeout } from 'node:timers';

let probing = false;
/** Connections kept open by `open`, by name. */
const held = new Map();
const out = (line) => process.stdout.write(`${line}\n`);
function tryConnect(host, port, ms, from) {
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port), ...(from ? { localAddress: from.address, localPort: Number(from.port) } : {}) });
    const timer = setTimeout(() => { s.destroy(); resolve('fail ETIMEDOUT'); }, Number(ms));
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve('ok'); });
    s.once('error', (e) => { clearTimeout(timer); resolve(`fail ${e.code}`); });
  });
}
createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, a, b, c, d, e] = line.trim().split(/\s+/);
  if (cmd === 'listen') {
    const server = createServer((sock) => sock.pipe(sock).on('error', () => {}));
    server.on('error', (e) => out(`error ${e.code}`));
    server.listen(Number(b), a, () => out('listening'));
  } else if (cmd === 'connect') {
    out(await tryConnect(a, b, c ?? 2000));
  } else if (cmd === 'connectfrom') {
    out(await tryConnect(c, d, e ?? 2000, { address: a, port: b }));
  } else if (cmd === 'forward') {
    const server = createServer((sock) => {
      const up = connect({ host: b, port: Number(c) });
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    server.listen(a, () => out('forwarding'));
  } else if (cmd === 'probe') {
    // A new connection every ~2 ms without waiting for the last one: a connect caught mid-handshake
    // by the switch (and left to time out) must not hide the ones that fail at once after it.
    probing = true;
    let inFlight = 0;
    while (probing) {
      if (inFlight < 100) {
        inFlight++;
        const started = performance.timeOrigin + performance.now();
        void tryConnect(a, b, 1000).then((r) => {
          inFlight--;
          out(`probe ${started.toFixed(1)} ${(performance.timeOrigin + performance.now()).toFixed(1)} ${r}`);
        });
      }
      await new Promise((res) => setTimeout(res, 2));
    }
  } else if (cmd === 'open') {
    // Exactly one answer per command, whatever the socket does later.
    const sock = connect({ host: b, port: Number(c) });
    let answered = false;
    const answer = (line) => { if (!answered) { answered = true; out(line); } };
    sock.on('error', (e) => answer(`fail ${e.code}`));
    sock.once('connect', () => { held.set(a, sock); answer('opened'); });
  } else if (cmd === 'echo') {
    const sock = held.get(a);
    if (!sock || sock.destroyed) return out('fail closed');
    let answered = false;
    const answer = (line) => { if (!answered) { answered = true; clearTimeout(timer); sock.off('data', onData); out(line); } };
    const onData = (d) => answer(`echo ${d.toString().trim()}`);
    const timer = setTimeout(() => answer('fail ETIMEDOUT'), 1500);
    sock.on('data', onData);
    sock.once('close', () => answer('fail closed'));
    sock.write(`${b}\n`, (e) => { if (e) answer(`fail ${e.code}`); });
  } else if (cmd === 'stop') {
    probing = false;
  } else if (cmd === 'exit') {
    process.exit(0);
  }
});
