/*
 * Cordon's built-in rule pack: every agent carries it, and uploaded packs are compiled with it.
 *
 * No pattern here is written as the live sample it finds (the EICAR string, a reverse-shell or
 * web-shell one-liner): they are regular expressions with escapes, and descriptions say in words
 * what a rule finds. So this file, which agents keep on disk, does not match this pack (a test
 * checks it) nor a scanner looking for those samples.
 *
 * Every rule carries meta: description, severity (Informational|Low|Medium|High), category (an
 * MDE alert category), mitre (ATT&CK technique, where one fits) and author.
 * Rules ask for two pieces of evidence or more, or one that no benign file has. For speed, every
 * pattern has a literal of 4 bytes or more for the scanner to look for (the 2-byte PHP and JSP open
 * tags only ever count beside such a pattern), few use nocase (it multiplies what is looked for:
 * common spellings are listed instead), and there are no loops over the file's bytes; the pack
 * compiles without warnings.
 */

import "elf"

// ---------------------------------------------------------------------------------------------
// EICAR
// ---------------------------------------------------------------------------------------------

rule EICAR_Test_File : test
{
  meta:
    description = "The EICAR anti-malware test file (harmless; used to check that scanning works)"
    severity = "Informational"
    category = "Malware"
    author = "Cordon"
  strings:
    // The 68-byte EICAR string, anywhere in the data (as a file, or inside a larger one). A regular
    // expression with escapes: the file holds no run of the string long enough to be mistaken for it.
    $eicar = /X5O!P%@AP\[4\\PZX54\(P\^\)7CC\)7\}\$EICAR\x2dSTANDARD\x2dANTIVIRUS\x2dTEST\x2dFILE!\$H\+H\*/
  condition:
    $eicar
}

// ---------------------------------------------------------------------------------------------
// Coin miners
// ---------------------------------------------------------------------------------------------

rule CoinMiner_ELF_Miner : miner
{
  meta:
    description = "A Linux executable with a cryptocurrency miner's strings (XMRig and forks, cpuminer/minerd): two or more of its protocol, algorithm, option and pool names"
    severity = "High"
    category = "Malware"
    mitre = "T1496"
    author = "Cordon"
  strings:
    $xmrig = /(xmrig|XMRig|XMRIG)/
    $stratum = /stratum\d?\+(tcp|ssl|tls):\/\//
    $donate = "donate-level"
    $randomx = /(randomx|RandomX|RANDOMX)/
    $cryptonight = /(cryptonight|CryptoNight|Cryptonight|CRYPTONIGHT)/
    $subscribe = "mining.subscribe"
    $authorize = "mining.authorize"
    $cpuminer = /(cpuminer|CPUMiner|cpuMiner)/
    $minerd = "minerd" fullword
    $nicehash = /(nicehash|NiceHash|Nicehash)/
    $pool = /(supportxmr\.com|minexmr\.com|moneroocean\.stream|nanopool\.org|c3pool\.(com|org)|hashvault\.pro|xmrpool\.eu|monerohash\.com|minergate\.com|2miners\.com|f2pool\.com|herominers\.com|unmineable\.com|dwarfpool\.com|xmrig\.com)/
  condition:
    uint32(0) == 0x464C457F and 2 of them
}

rule CoinMiner_XMRig_Config : miner
{
  meta:
    description = "An XMRig (or XMR-Stak) miner configuration: a pool list with the miner's own keys"
    severity = "High"
    category = "Malware"
    mitre = "T1496"
    author = "Cordon"
  strings:
    $pools = "\"pools\""
    $url = "\"url\""
    $user = "\"user\""
    $k_donate = "\"donate-level\""
    $k_donate_proxy = "\"donate-over-proxy\""
    $k_randomx = "\"randomx\""
    $k_huge = "\"huge-pages\""
    $k_rig = "\"rig-id\""
    $k_nicehash = "\"nicehash\""
    $k_self_select = "\"self-select\""
    $k_algo = /"algo"\s*:\s*"(rx|cn|cn-lite|cn-heavy|cn-pico|argon2|astrobwt|kawpow|ghostrider)\//
    $stak_pool = "\"pool_address\""
    $stak_wallet = "\"wallet_address\""
    $stak_list = "\"pool_list\""
  condition:
    filesize < 1MB and uint32(0) != 0x464C457F and (
      ($pools and $url and $user and 2 of ($k_*)) or
      all of ($stak_*)
    )
}

rule CoinMiner_Launcher : miner
{
  meta:
    description = "A script or text that starts a miner: a mining pool address with a miner's options, name or a Monero wallet"
    severity = "Medium"
    category = "Malware"
    mitre = "T1496"
    author = "Cordon"
  strings:
    $pool_url = /stratum\d?\+(tcp|ssl|tls):\/\/[^\s,;`)<>"']{3,100}/
    $pool_host = /(supportxmr\.com|minexmr\.com|moneroocean\.stream|nanopool\.org|c3pool\.(com|org)|hashvault\.pro|xmrpool\.eu|monerohash\.com|minergate\.com|2miners\.com|f2pool\.com|herominers\.com|unmineable\.com|dwarfpool\.com):\d{2,5}/
    $opt_donate = "--donate-level"
    $opt_algo = /(-a|--algo[= ])\s*(rx\/0|cn\/r|cryptonight|randomx)/
    $opt_coin = /--coin[= ]\s*(monero|xmr)/
    $opt_threads = "--cpu-max-threads-hint"
    $name = /(xmrig|XMRig|xmr-stak|XMR-Stak|cpuminer|minerd)/
    $wallet = /(-u|--user[= ]|--wallet[= ])\s*4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}/
  condition:
    filesize < 1MB and uint32(0) != 0x464C457F and 1 of ($pool_*) and 1 of ($opt_*, $name, $wallet)
}

// ---------------------------------------------------------------------------------------------
// Web shells: PHP and JSP. Each needs the language's open tag before the use.
// ---------------------------------------------------------------------------------------------

rule WebShell_PHP_Request_Exec : webshell
{
  meta:
    description = "PHP that runs code or commands taken straight from the request: eval, assert, system, passthru, shell_exec and kin on GET, POST, REQUEST or COOKIE input (the China Chopper one-liner among them)"
    severity = "High"
    category = "Execution"
    mitre = "T1505.003"
    author = "Cordon"
  strings:
    $tag = "<?"
    // A code or command function called on request input, maybe through one decoder, maybe with @.
    $call = /\b(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function|call_user_func|call_user_func_array)\s*\(\s*@?\s*((stripslashes|base64_decode|str_rot13|gzinflate|gzuncompress|urldecode|rawurldecode|hex2bin|trim)\s*\(\s*)?@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
    // The request names both the function and its argument.
    $dynamic = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\n]{1,40}\]\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
    // Request input between backticks (PHP runs it as a shell command).
    $backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\n]{1,40}\]\s*`/
  condition:
    filesize < 5MB and $tag and for any of ($call, $dynamic, $backtick) : (@ > @tag[1])
}

rule WebShell_PHP_Obfuscated_Eval : webshell
{
  meta:
    description = "PHP that evaluates packed code: eval of two nested decoders (gzinflate, base64_decode, str_rot13 …) or of a long encoded literal, or preg_replace with the /e modifier fed from the request"
    severity = "High"
    category = "DefenseEvasion"
    mitre = "T1027"
    author = "Cordon"
  strings:
    $tag = "<?"
    $nested = /\b(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|convert_uudecode)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|convert_uudecode)\s*\(/
    $literal = /\b(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|convert_uudecode)\s*\(\s*['"][A-Za-z0-9+\/=\r\n]{200}/
    $preg_e = /preg_replace\s*\(\s*['"][^'"\n]{1,200}\/[a-zA-Z]*e[a-zA-Z]*['"]\s*,[^;\n]{0,200}(\$_(GET|POST|REQUEST|COOKIE)|base64_decode|gzinflate|str_rot13)/
  condition:
    filesize < 5MB and $tag and for any of ($nested, $literal, $preg_e) : (@ > @tag[1])
}

rule WebShell_PHP_Known_Kit : webshell
{
  meta:
    description = "A known PHP web-shell kit (b374k, WSO/FilesMan, c99, r57) with command execution"
    severity = "High"
    category = "Execution"
    mitre = "T1505.003"
    author = "Cordon"
  strings:
    $tag = "<?"
    $kit_b374k = "b374k"
    $kit_wso = "WSO_VERSION"
    $kit_filesman = "FilesMan"
    $kit_c99 = /(c99shell|C99Shell|c99_sess_put)/
    $kit_r57 = /(r57shell|R57Shell|r57_pwd_hash)/
    $exec = /\b(eval|assert|system|passthru|shell_exec|proc_open|popen)\s*\(/
  condition:
    filesize < 5MB and $tag and 1 of ($kit_*) and $exec
}

rule WebShell_JSP_Command_Exec : webshell
{
  meta:
    description = "JSP that runs a command or script taken from the request: Runtime exec, ProcessBuilder or a ScriptEngine beside request parameters (cmd.jsp and kin)"
    severity = "High"
    category = "Execution"
    mitre = "T1505.003"
    author = "Cordon"
  strings:
    $tag = "<%"
    $tag_xml = "<jsp:scriptlet>"
    $param = /request\s*\.\s*getParameter\s*\(/
    $exec_runtime = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(/
    $exec_builder = /new\s+ProcessBuilder\s*\(/
    $exec_script = /getEngineByName\s*\([^)\n]{1,40}\)\s*\.\s*eval\s*\(/
  condition:
    filesize < 5MB and 1 of ($tag*) and $param and 1 of ($exec_*)
}

// ---------------------------------------------------------------------------------------------
// Reverse shells: one-liners and small scripts that hand a shell to a network peer.
// ---------------------------------------------------------------------------------------------

rule ReverseShell_Bash_DevTcp : reverse_shell
{
  meta:
    description = "A shell whose input and output go to a bash /dev/tcp or /dev/udp socket: an interactive shell redirected there, a descriptor opened on it and handed to a shell, IFS-spaced and base64-encoded forms"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059.004"
    author = "Cordon"
  strings:
    // An interactive shell redirected to the socket, spaces maybe written as IFS expansions.
    $interactive = /(ba|z|k|da)?sh(\s|\$\{IFS\}|\$IFS)+-i(\s|\$\{IFS\}|\$IFS)*[0-9]?(>&|&>|<>|>|<)(\s|\$\{IFS\}|\$IFS)*\/dev\/(tcp|udp)\//
    // The socket path followed by standard input joined to standard output.
    $stdin_to_socket = /\/dev\/(tcp|udp)\/[^\s\/]{1,255}\/[0-9]{1,5}\s*0>&1/
    // A descriptor opened read-write on the socket, then a shell reading and writing it.
    $fd_exec = /exec\s+[0-9]{1,3}<>\s*\/dev\/(tcp|udp)\/[^\n]{1,300}(ba|z|k|da)?sh\s+<&\s*[0-9]{1,3}\s+>&\s*[0-9]{1,3}/
    $fd_exec2 = /0<&[0-9]{1,3}\s*;\s*exec\s+[0-9]{1,3}<>\s*\/dev\/(tcp|udp)\//
    // Lines read from the socket run one by one, their output sent back.
    $read_loop = /\/dev\/(tcp|udp)\/[^\n]{1,300}while\s+read\s+[a-z_]+\s*;\s*do\s+\$[a-z_]+\s+2>&[0-9]/
    // The interactive form base64-encoded (piped to base64 -d | bash); & is written \x26 so the
    // plain text here is no sample.
    $encoded1 = "bash -i >\x26 /dev/tcp/" base64
    $encoded2 = "sh -i >\x26 /dev/tcp/" base64
  condition:
    filesize < 5MB and any of them
}

rule ReverseShell_Netcat : reverse_shell
{
  meta:
    description = "netcat or ncat handing a shell to a peer: its execute option naming a shell, or a named pipe looping a shell through nc"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059.004"
    author = "Cordon"
  strings:
    $nc_e_path = /\b(nc|ncat|netcat)(\.traditional|\.openbsd)?\s([^\n|;&]{0,100}\s)?-(e|c)\s*(\/usr)?\/bin\/(ba|z|k|da)?sh\b/
    $nc_e_name = /\b(nc|ncat|netcat)(\.traditional|\.openbsd)?\s([^\n|;&]{0,100}\s)?-(e|c) ?(ba|z|k|da)?sh\b/
    $ncat_exec = /\bncat\s[^\n|;&]{0,100}--(sh-)?exec[\s=]/
    // A named pipe made, then a shell piped into nc (whose output goes back into the pipe).
    $fifo = /(mkfifo|mknod)\s[^\n]{1,150}\|\s*(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b[^\n|]{0,40}\|\s*(nc|ncat|netcat|telnet|openssl)\s/
    $busybox = /busybox\s+nc\s[^\n|;&]{0,100}-e\s*(\/bin\/)?(ba|a)?sh\b/
  condition:
    filesize < 5MB and any of them
}

rule ReverseShell_Python : reverse_shell
{
  meta:
    description = "Python that connects a socket and gives it a shell: the socket duplicated onto the standard streams, or passed as a subprocess's stdin, then a shell or pty spawned"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059.006"
    author = "Cordon"
  strings:
    $socket = "socket"
    $connect = /\.connect\s*\(\s*\(/
    $dup2 = /os\.dup2\s*\(\s*[A-Za-z_][A-Za-z0-9_.]{0,40}\.fileno\s*\(\s*\)\s*,\s*[012]\s*\)/
    $stdin_sock = /stdin\s*=\s*[A-Za-z_][A-Za-z0-9_.]{0,40}\.fileno\s*\(\s*\)/
    $pty = /pty\.spawn\s*\(/
    $shell = /["'](\/bin\/)?(ba|z|k|da)?sh["']/
  condition:
    filesize < 5MB and $socket and $connect and (#dup2 >= 2 or $stdin_sock) and ($pty or $shell)
}

rule ReverseShell_Perl : reverse_shell
{
  meta:
    description = "Perl that connects a socket, reopens the standard streams on it and executes a shell or every line it reads"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059"
    author = "Cordon"
  strings:
    $socket = /(use\s+(Socket|IO::Socket)|-MIO\b|IO::Socket::INET)/
    $redirect = /open\s*\(\s*STD(IN|OUT|ERR)\s*,\s*["']>&/
    $fdopen = /STD(IN|OUT)\s*->\s*fdopen\s*\(/
    $exec = /(exec|system)\s*\(?\s*["'](\/bin\/)?(ba|z|k|da)?sh\b/
    // Every line read from the socket run as a command.
    $loop = /system\s*\$_\s+while\s*<>/
  condition:
    filesize < 5MB and $socket and ($redirect or $fdopen) and ($exec or $loop)
}

rule ReverseShell_PHP : reverse_shell
{
  meta:
    description = "PHP that opens a socket and gives it a shell: fsockopen with a shell reading the socket's descriptor, or proc_open of an interactive shell"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059"
    author = "Cordon"
  strings:
    $fsockopen = /(fsockopen|stream_socket_client|socket_connect)\s*\(/
    $fd_shell = /(exec|shell_exec|system|passthru|popen|proc_open)\s*\(\s*["'](\/bin\/)?(ba|z|k|da)?sh\s+-i\s*<&\s*[0-9]/
    $proc_open = /proc_open\s*\(/
    $sh_i = /["'][^"'\n]{0,80}(\/bin\/)?(ba|z|k|da)?sh\s+-i["']/
  condition:
    filesize < 5MB and $fsockopen and ($fd_shell or ($proc_open and $sh_i))
}

rule ReverseShell_Socat : reverse_shell
{
  meta:
    description = "socat joining a shell on a pty to a network connection (the EXEC and TCP or OPENSSL addresses on one line)"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059.004"
    author = "Cordon"
  strings:
    // socat's address types are written in lower or upper case.
    $exec_first = /socat\s[^\n]{0,200}(exec|EXEC):['"]?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b[^\n]{0,60},\s*(pty|PTY)[^\n]{0,200}\s(tcp|TCP|tcp4|TCP4|tcp6|TCP6|tcp-connect|TCP-CONNECT|openssl|OPENSSL|openssl-connect|OPENSSL-CONNECT|udp|UDP):/
    $net_first = /socat\s[^\n]{0,200}(tcp|TCP|tcp4|TCP4|tcp6|TCP6|tcp-connect|TCP-CONNECT|openssl|OPENSSL|openssl-connect|OPENSSL-CONNECT|udp|UDP):[^\n]{1,200}\s(exec|EXEC):['"]?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b[^\n]{0,60},\s*(pty|PTY)/
  condition:
    filesize < 5MB and any of them
}

rule ReverseShell_Generic_FD : reverse_shell
{
  meta:
    description = "A shell started with all three standard streams on one inherited socket descriptor (Ruby, PHP, Lua one-liners), or gawk's /inet/tcp coprocess feeding commands"
    severity = "High"
    category = "CommandAndControl"
    mitre = "T1059.004"
    author = "Cordon"
  strings:
    $fd = /(ba|z|k|da)?sh\s+-i\s*<&\s*(%d|[0-9]{1,3})\s*>&\s*(%d|[0-9]{1,3})\s*2>&\s*(%d|[0-9]{1,3})/
    $awk = /\/inet\/tcp\/0\/[^\n]{1,300}\|&\s*getline/
  condition:
    filesize < 5MB and any of them
}

// ---------------------------------------------------------------------------------------------
// LD_PRELOAD rootkits
// ---------------------------------------------------------------------------------------------

rule Rootkit_LDPreload_Readdir_Hook : rootkit
{
  meta:
    description = "A shared library that defines its own readdir or readdir64 and looks the real one up with dlsym, beside /proc or ld.so.preload strings or more file hooks: how libprocesshider, Jynx, Azazel and Vlany hide files and processes"
    severity = "High"
    category = "DefenseEvasion"
    mitre = "T1574.006"
    author = "Cordon"
  strings:
    $preload = "ld.so.preload"
    $proc = "/proc/"
    $rtld_next = "RTLD_NEXT"
  condition:
    uint32(0) == 0x464C457F and elf.type == elf.ET_DYN
    // Resolves the real functions at run time (libc defines dlsym; a hook imports it) …
    and for any s in elf.dynsym : (s.name == "dlsym" and s.shndx == 0)
    // … is not a sanitizer runtime (ASan, TSan … intercept readdir the same way, in the open) …
    and not for any s in elf.dynsym : (s.name startswith "__sanitizer_")
    and (
      // … and defines readdir or readdir64 itself, beside /proc or preload-list strings …
      (any of them and for any s in elf.dynsym : ((s.name == "readdir" or s.name == "readdir64") and s.shndx != 0 and s.type == elf.STT_FUNC))
      // … or defines both, and two more of what hides a file (a rootkit's strings may be encoded;
      // an I/O tracer such as gprofng's hooks readdir and file calls too, but not readdir64).
      or (
        for any s in elf.dynsym : (s.name == "readdir" and s.shndx != 0 and s.type == elf.STT_FUNC) and
        for any s in elf.dynsym : (s.name == "readdir64" and s.shndx != 0 and s.type == elf.STT_FUNC) and
        for 2 s in elf.dynsym : (
          s.shndx != 0 and s.type == elf.STT_FUNC and (
            s.name == "fopen" or s.name == "fopen64" or s.name == "stat" or s.name == "lstat" or
            s.name == "__xstat" or s.name == "__lxstat" or s.name == "__xstat64" or s.name == "__lxstat64" or
            s.name == "access" or s.name == "unlink" or s.name == "opendir" or s.name == "accept"
          )
        )
      )
    )
}

rule Rootkit_LDPreload_Config : rootkit
{
  meta:
    description = "An ld.so.preload list naming a library in /tmp, /var/tmp, /dev/shm, a hidden directory or a home directory (loaded into every program)"
    severity = "High"
    category = "Persistence"
    mitre = "T1574.006"
    author = "Cordon"
  strings:
    // A line of paths only (the list's format), one of them a library in a temporary or home
    // directory or under a hidden one. A line starting with # is a comment.
    $entry = /(^|\n)[ \t]*(\/[^\s#]{1,200}[ \t]+){0,4}\/((tmp|var\/tmp|dev\/shm|root|home\/[^\/\s]{1,64})\/|([^\s#]{1,100}\/)?\.[^.\/\s][^\/\s]{0,100}\/)[^\s#]{0,200}\.so(\.[0-9]+)*([ \t]+\/[^\s#]{1,200}){0,4}[ \t\r]*(\n|$)/
  condition:
    filesize < 4KB and $entry
}

rule Rootkit_LDPreload_Writer : rootkit
{
  meta:
    description = "A script that writes a library into /etc/ld.so.preload (how preload rootkits install themselves)"
    severity = "Medium"
    category = "Persistence"
    mitre = "T1574.006"
    author = "Cordon"
  strings:
    // echo or printf of a .so path or a variable, into the file or through tee (clearing it is not this).
    $echo = /(echo|printf)\s[^\n|;&]{0,200}(\.so\b|\$)[^\n|;&]{0,200}>>?\s*["']?\/etc\/ld\.so\.preload/
    $tee = /(echo|printf)\s[^\n|;&]{0,200}(\.so\b|\$)[^\n|;&]{0,200}\|\s*(sudo\s+)?tee\s+(-a\s+)?["']?\/etc\/ld\.so\.preload/
  condition:
    filesize < 5MB and uint32(0) != 0x464C457F and any of them
}
