//! Every cargo-fuzz target, run on stable under `cargo test`: its seeds (the
//! captures and golden messages the crates' own tests use), then a few
//! thousand deterministic mutations of them. The bodies are included from
//! the fuzz crates, so this is the same code libFuzzer runs; the bodies
//! assert their invariants (round trips, bounds), so a run fails on a
//! broken invariant as well as on a panic.
//!
//! Budget: the whole file must stay well under two seconds in a debug
//! build, since it runs on every `cargo test`.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock

#[path = "../../bits/fuzz/src/lib.rs"]
mod bits_fuzz;
#[path = "../../ipmi/fuzz/src/lib.rs"]
mod ipmi_fuzz;
#[path = "../../lb/fuzz/src/lib.rs"]
mod lb_fuzz;
#[path = "../../psrp/fuzz/src/lib.rs"]
mod psrp_fuzz;
#[path = "../../pwsh/fuzz/src/lib.rs"]
mod pwsh_fuzz;
#[path = "../../rdp/fuzz/src/lib.rs"]
mod rdp_fuzz;
#[path = "../../redfish/fuzz/src/lib.rs"]
mod redfish_fuzz;
#[path = "../../smash/fuzz/src/lib.rs"]
mod smash_fuzz;
#[path = "../../smb/fuzz/src/lib.rs"]
mod smb_fuzz;
#[path = "../../smis/fuzz/src/lib.rs"]
mod smis_fuzz;
#[path = "../../ssh/fuzz/src/lib.rs"]
mod ssh_fuzz;
#[path = "../../tds/fuzz/src/lib.rs"]
mod tds_fuzz;
#[path = "../../vsphere/fuzz/src/lib.rs"]
mod vsphere_fuzz;
#[path = "../../wcf/fuzz/src/lib.rs"]
mod wcf_fuzz;
#[path = "../../wire/fuzz/src/lib.rs"]
mod wire_fuzz;
#[path = "../../wsman/fuzz/src/lib.rs"]
mod wsman_fuzz;
#[path = "../../wsus/fuzz/src/lib.rs"]
mod wsus_fuzz;
#[path = "../../xml/fuzz/src/lib.rs"]
mod xml_fuzz;

use std::path::{Path, PathBuf};

use fakedc_fuzzing::{from_hex, run, Smoke};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/")
        .to_path_buf()
}

fn failures() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke-failures")
}

fn smoke<'a>(
    target: &'a str,
    seeds: Vec<Vec<u8>>,
    mutations: usize,
    dict: &'a [&'a [u8]],
) -> Smoke<'a> {
    Smoke {
        target,
        seeds,
        mutations,
        rng_seed: 0x00fa_ced0,
        dict,
        failures: failures(),
    }
}

/// Every datagram of every capture under `crates/ipmi/tests/captures` (both
/// directions: the consoles parse what BMCs send), one exchange per capture
/// as a multi-datagram input, and in-session requests the harness accepts.
fn ipmi_seeds() -> Vec<Vec<u8>> {
    let dir = crates_dir().join("ipmi/tests/captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "captures missing from {}", dir.display());
    let mut seeds = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("capture");
        let mut exchange = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((dir, hex)) = line.split_once(' ') else {
                continue;
            };
            let d = from_hex(hex).unwrap_or_else(|| panic!("{}: bad hex", f.display()));
            if dir == "C>" {
                if !exchange.is_empty() {
                    exchange.extend_from_slice(&ipmi_fuzz::SEPARATOR);
                }
                exchange.extend_from_slice(&d);
            }
            seeds.push(d);
        }
        seeds.push(exchange);
    }
    let mut h = ipmi_fuzz::Harness::new().expect("the harness's handshakes succeed");
    let sealed = h.sealed_requests();
    assert_eq!(
        sealed.len(),
        8,
        "one Get Device ID and one Chassis Status per console"
    );
    seeds.push(sealed.join(&ipmi_fuzz::SEPARATOR[..]));
    seeds.extend(sealed);
    seeds
}

#[test]
fn ipmi_decode() {
    let seeds = ipmi_seeds();
    // The sealed requests really are in-session: a fresh harness takes each
    // as a request (so mutants of them reach the command path).
    let sealed = ipmi_fuzz::Harness::new()
        .expect("harness")
        .sealed_requests();
    for d in &sealed {
        let mut fresh = ipmi_fuzz::Harness::new().expect("harness");
        assert!(fresh.feed(0, d), "sealed request refused: {d:02x?}");
    }
    // The harness costs four handshakes per input, so fewer mutants here;
    // the parsers alone get many more below.
    let ran = run(
        &smoke("ipmi/decode", seeds.clone(), 300, &[]),
        ipmi_fuzz::decode,
    );
    eprintln!("ipmi/decode: {} inputs in {:?}", ran.inputs, ran.elapsed);
    let ran = run(&smoke("ipmi/decode", seeds, 4000, &[]), |d| {
        for d in ipmi_fuzz::split(d) {
            ipmi_fuzz::parsers(d);
        }
    });
    eprintln!("ipmi parsers: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// The WinRM captures under `crates/wsman/tests/data`, one envelope each,
/// and a few WQL queries and durations for the text parsers.
fn envelope_seeds() -> Vec<Vec<u8>> {
    let dir = crates_dir().join("wsman/tests/data");
    let mut seeds = Vec::new();
    for name in ["pywinrm-run_cmd-requests.xml", "go-winrm-requests.xml"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("capture");
        seeds.extend(
            text.split("<?xml")
                .filter(|s| !s.trim().is_empty())
                .map(|s| format!("<?xml{s}").into_bytes()),
        );
    }
    assert_eq!(seeds.len(), 10);
    for s in [
        "SELECT * FROM Win32_Service WHERE Name = 'WinRM' OR State != \"Stopped\"",
        "select Name from Msvm_ComputerSystem where EnabledState=2 and Caption='Virtual Machine'",
        "PT60.000S",
        "P1DT2H3M4.5S",
    ] {
        seeds.push(s.as_bytes().to_vec());
    }
    seeds
}

#[test]
fn wsman_envelope() {
    let dict: &[&[u8]] = &[
        b"<",
        b">",
        b"&amp;",
        b"&#x0;",
        b"<![CDATA[",
        b"]]>",
        b"\"",
        b"xmlns:a=\"\"",
        b"<!DOCTYPE x [<!ENTITY e \"e\">]>",
        b"</s:Header>",
        b"PT99999999999999999999S",
    ];
    let ran = run(
        &smoke("wsman/envelope", envelope_seeds(), 1000, dict),
        wsman_fuzz::envelope,
    );
    eprintln!("wsman/envelope: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Command lines as pywinrm, Ansible and scripts send them: cmd built-ins,
/// variables, redirections, and powershell.exe with each way of passing a
/// script (the encoded one is `hostname; Get-Frob; exit 3`).
fn shell_seeds() -> Vec<Vec<u8>> {
    let encoded: String = {
        use base64::Engine as _;
        let utf16: Vec<u8> = "hostname; Get-Frob; exit 3"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        base64::engine::general_purpose::STANDARD.encode(utf16)
    };
    let mut seeds: Vec<Vec<u8>> = [
        "ipconfig\u{1}/all",
        "echo %COMPUTERNAME% %nope% > \"%TEMP%\\x.tmp\"",
        "set\u{1}USER",
        "cmd\u{1}/c cmd /c exit 4",
        "date\u{1}/t",
        "powershell -NoProfile -Command \"$env:COMPUTERNAME; Write-Output 'a''b' \\\"$env:USERNAME\\\"\"",
        "PowerShell -c Get-VM -Name x",
        "powershell -File C:\\x.ps1",
        "$x = 'a'; Write-Host $x \"$x$env:OS\" # c\nexit 9",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.push(format!("powershell -encodedcommand {encoded}").into_bytes());
    seeds
}

#[test]
fn wsman_shell() {
    let dict: &[&[u8]] = &[
        b"%",
        b"%PSModulePath%",
        b"\"",
        b"'",
        b";",
        b"\n",
        b"$env:",
        b" -EncodedCommand ",
        b" -Command ",
        b"powershell ",
        b">>",
        b"cmd /c ",
    ];
    let ran = run(
        &smoke("wsman/shell", shell_seeds(), 2000, dict),
        wsman_fuzz::shell,
    );
    eprintln!("wsman/shell: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// A whole NTLM handshake as pywinrm runs it (NEGOTIATE, the server's
/// CHALLENGE, AUTHENTICATE), its SPNEGO wrapping, and sealed bodies made
/// with the keys the target's sessions use (so they unseal there).
fn ntlm_seeds() -> Vec<Vec<u8>> {
    use fakedc_wsman::ntlm::{Client, Server, Session, Step};
    let mut seeds = Vec::new();
    let mut client = Client::new("u", "D", "pw");
    let negotiate = client.negotiate();
    let mut server = Server::default();
    let lookup = |_: &str| Some("pw".to_string());
    let Ok(Step::Challenge(challenge)) =
        server.accept(&negotiate, &wsman_fuzz::target_info(), &lookup)
    else {
        panic!("NEGOTIATE refused");
    };
    let (authenticate, _) = client.authenticate(&challenge).expect("AUTHENTICATE");
    assert!(matches!(
        server.accept(&authenticate, &wsman_fuzz::target_info(), &lookup),
        Ok(Step::Done { .. })
    ));
    seeds.push(fakedc_wsman::spnego::init(&negotiate));
    seeds.extend([negotiate, challenge, authenticate]);
    let mut c = Session::new(wsman_fuzz::SESSION_KEY, wsman_fuzz::SESSION_FLAGS, false);
    let body = b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>";
    let sealed = fakedc_wsman::service::encrypt(&mut c, body);
    let mut s = Session::new(wsman_fuzz::SESSION_KEY, wsman_fuzz::SESSION_FLAGS, true);
    assert_eq!(
        fakedc_wsman::service::decrypt(&mut s, &sealed).as_deref(),
        Ok(&body[..]),
        "the seed unseals with the target's session"
    );
    seeds.push(sealed);
    let mut c = Session::new(wsman_fuzz::SESSION_KEY, wsman_fuzz::SESSION_FLAGS, false);
    let (sig, sealed) = c.wrap(body);
    seeds.push([&sig[..], &sealed].concat());
    seeds
}

#[test]
fn wsman_ntlm() {
    let dict: &[&[u8]] = &[b"NTLMSSP\0", b"Length=", b"application/octet-stream\r\n"];
    let ran = run(
        &smoke("wsman/ntlm", ntlm_seeds(), 700, dict),
        wsman_fuzz::ntlm,
    );
    eprintln!("wsman/ntlm: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// `Authorization` header sequences as pywinrm (raw NTLM), curl and
/// Windows (Negotiate, raw or SPNEGO-wrapped) send them: a NEGOTIATE then
/// an AUTHENTICATE answering another connection's challenge (a replay,
/// which must not authenticate), and malformed values.
fn ntlm_http_seeds() -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let b64 = |t: &[u8]| base64::engine::general_purpose::STANDARD.encode(t);
    let msgs = ntlm_seeds();
    let (negotiate, authenticate) = (&msgs[1], &msgs[3]);
    let wrapped_auth = fakedc_wsman::spnego::response(
        fakedc_wsman::spnego::ACCEPT_INCOMPLETE,
        false,
        Some(authenticate),
        None,
    );
    let mut seeds: Vec<Vec<u8>> = vec![
        format!("NTLM {}\nNTLM {}", b64(negotiate), b64(authenticate)).into_bytes(),
        format!(
            "Negotiate {}\nNegotiate {}",
            b64(negotiate),
            b64(authenticate)
        )
        .into_bytes(),
        format!(
            "Negotiate {}\nNegotiate {}",
            b64(&msgs[0]),
            b64(&wrapped_auth)
        )
        .into_bytes(),
        format!("NTLM {}", b64(authenticate)).into_bytes(),
    ];
    for s in [
        "NTLM",
        "NTLM ",
        "NTLM !!!",
        "NTLM TlRMTVNTUAADAAAA",
        "Negotiate oQMwAQ==",
    ] {
        seeds.push(s.as_bytes().to_vec());
    }
    seeds
}

#[test]
fn wsman_ntlm_http() {
    let dict: &[&[u8]] = &[
        b"NTLM ",
        b"Negotiate ",
        b"TlRMTVNTUA",
        b"\n",
        b"=",
        b"oQ",
        b"YI",
    ];
    // The first header of each handshake seed reaches the NTLM server (a
    // CHALLENGE comes back), so mutants of the second reach AUTHENTICATE.
    for seed in &ntlm_http_seeds()[..3] {
        use fakedc_wsman::ntlm::http::{Acceptor, HttpStep};
        let text = std::str::from_utf8(seed).expect("text");
        let first = text.lines().next().expect("a header");
        let (scheme, creds) = first.split_once(' ').expect("scheme");
        let lookup = |_: &str| Some("pw".to_string());
        let step = Acceptor::default().accept(scheme, creds, &wsman_fuzz::target_info(), &lookup);
        assert!(matches!(step, Ok(HttpStep::Challenge(_))), "{first}");
    }
    let ran = run(
        &smoke("wsman/ntlm_http", ntlm_http_seeds(), 700, dict),
        wsman_fuzz::ntlm_http,
    );
    eprintln!(
        "wsman/ntlm_http: {} inputs in {:?}",
        ran.inputs, ran.elapsed
    );
}

/// Paths as SFTP clients (WinSCP, OpenSSH sftp, VMM's file transfer) and
/// scripts name them, traversal attempts included, and symlink requests
/// (`link` SEP `target`).
fn vfs_seeds() -> Vec<Vec<u8>> {
    let sep = ssh_fuzz::SEP;
    [
        "/vmfs/volumes/datastore1/vm/vm.vmdk".to_string(),
        "vm/vm.vmx".into(),
        "../../etc/passwd".into(),
        "/vmfs/volumes/datastore1/../../../../etc/shadow".into(),
        "/vmfs/volumes".into(),
        "/".into(),
        ".".into(),
        "".into(),
        "a/./b//c/..".into(),
        "/vmfs/volumes/datastore2/x".into(),
        "~/.ssh/authorized_keys".into(),
        "vm\\..\\..\\x".into(),
        format!("vm/link{sep}../iso/x.iso"),
        format!("/vmfs/volumes/datastore1/a/b/link{sep}/vmfs/volumes/datastore1/c"),
        format!("vm/link{sep}../../../etc/passwd"),
        format!("link{sep}/etc/passwd"),
        format!("/vmfs/volumes/datastore1{sep}vm"),
        format!("vm/link{sep}."),
        // A link at the datastore root (found by this target: see vfs.rs).
        format!("{sep}/vmfs/volumes/datastore1/c"),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn ssh_vfs() {
    let dict: &[&[u8]] = &[
        b"/",
        b"..",
        b"../",
        b".",
        b"//",
        b"\x01",
        b"/vmfs/volumes/datastore1",
        b"/vmfs",
        b"\0",
    ];
    let ran = run(&smoke("ssh/vfs", vfs_seeds(), 4000, dict), ssh_fuzz::vfs);
    eprintln!("ssh/vfs: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// CLP sessions as SCVMM's out-of-band management and admins type them
/// (DSP0214 verbs, targets, options, property assignments), one command a
/// line.
fn clp_seeds() -> Vec<Vec<u8>> {
    [
        "show /system1",
        "stop -force /system1",
        "set /system1/bootconfig1/bootsource1 bootorder=1",
        "cd /system1\nshow\nstop\nstart\nreset\nexit",
        "cd system1/bootconfig1\nshow bootsource2\nset bootsource2 bootorder=1\nset bootsource2 bootorder=3\nshow ..",
        "show -h\nhelp stop\nhelp\nversion",
        "SHOW /System1/BootConfig1\nshow /map1\nshow /",
        "set /system1 name=x\nstop /map1\nshow 'a b' c\ncreate /system1\nfrob",
        "show \"unterminated\n   \n''",
        "set /system1/bootconfig1/bootsource4 bootorder=1 bootorder=2",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn ssh_clp() {
    let dict: &[&[u8]] = &[
        b"\n",
        b"/system1",
        b"/bootconfig1",
        b"/bootsource",
        b"bootorder=",
        b"-force",
        b"..",
        b"\"",
        b"'",
        b"18446744073709551617",
        b"stop ",
        b"set ",
    ];
    let ran = run(&smoke("ssh/clp", clp_seeds(), 1500, dict), ssh_fuzz::clp);
    eprintln!("ssh/clp: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// ESXi shell sessions as VMM, PowerCLI scripts and admins run them, and
/// attempts to read through the symlinks planted in the fixture datastore.
fn esxi_seeds() -> Vec<Vec<u8>> {
    [
        "vim-cmd vmsvc/getallvms",
        "vim-cmd vmsvc/power.getstate 1\nvim-cmd vmsvc/power.off 1\nvim-cmd vmsvc/power.on 2",
        "esxcli system version get; esxcli system hostname get && esxcli network ip interface ipv4 get",
        "vmware -vl\nuname -a\nhostname\nwhoami",
        "cd /vmfs/volumes/datastore1\nls -la\ncd vm01\npwd\nls -l vm01.vmx\ncat vm01.vmx | grep -i display | wc -l",
        "ls -la /vmfs/volumes/datastore1 /vmfs/volumes /\ncat /vmfs/volumes/datastore1/iso/readme.txt | sort | head -n 2 | tail -1",
        "cd /vmfs/volumes/datastore1\ncat escape/etc/passwd up abs parent/x current.vmx\nls escape parent up abs\ncd parent",
        "cat ../../../../etc/passwd || echo no && false; exit 3",
        "ls /vmfs/volumes/datastore1/.fakedc-partial-x | grep -c x\ncd /vmfs/volumes/datastore1/iso; ls ..",
        "echo 'a;b' \"c|d\" e\\ f\nfrob | grep -v x\necho 'x",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn ssh_esxi() {
    let dict: &[&[u8]] = &[
        b"\n",
        b";",
        b"&&",
        b"||",
        b"|",
        b"'",
        b"\"",
        b"../",
        b"/vmfs/volumes/datastore1/",
        b"escape/",
        b"parent/",
        b"cat ",
        b"ls -la ",
        b"cd ",
        b"vim-cmd vmsvc/power.on ",
        b"18446744073709551617",
    ];
    // The fixture really is what the seeds probe: the shell reads inside
    // the datastore and is refused the planted ways out.
    {
        use fakedc_ssh::esxi::{EsxiInfo, EsxiShell};
        let model = std::sync::Arc::new(ssh_fuzz::scenario().model());
        let host = model.find("esxi01").expect("esxi01").id;
        let info = EsxiInfo {
            version: "7.0.3".into(),
            build: "1".into(),
            datastore: ssh_fuzz::DATASTORE.into(),
        };
        let jail = ssh_fuzz::fixture().jail.clone();
        let mut sh = EsxiShell::new(model, host, Some(jail), info, "root");
        let now = std::time::Instant::now();
        let o = sh.run("cat /vmfs/volumes/datastore1/current.vmx", now);
        assert!(o.stdout.contains("displayName"), "{o:?}");
        for bad in [
            "escape/etc/hostname",
            "up",
            "abs",
            "parent/datastore1/iso/readme.txt",
        ] {
            let o = sh.run(&format!("cat /vmfs/volumes/datastore1/{bad}"), now);
            assert_eq!(o.code, 1, "{bad}: {o:?}");
        }
        let o = sh.run("vim-cmd vmsvc/getallvms", now);
        assert!(o.stdout.contains("vm02"), "{o:?}");
    }
    let ran = run(&smoke("ssh/esxi", esxi_seeds(), 1000, dict), ssh_fuzz::esxi);
    eprintln!("ssh/esxi: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Keystrokes as terminals send them (with a pty: CR, backspace, DEL,
/// arrows, ^C/^U/^D; without: plain lines), and UTF-8 typed and erased.
fn terminal_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        &b"lx\x7fs\x1b[A -l\r\n"[..],
        b"one\ntwo\r\nthr",
        b"abc\x03show /system1\r",
        b"\x04",
        b"abc\x04\x15def\x08\x08\r\x04rest\n",
        b"\x1bOA\x1b[1;5C\x1bx\tcd\t/\r",
        "caf\u{e9}\x7f\x7f\u{1F512}\x08\r".as_bytes(),
        b"\xff\xfe\x80\xc3\r\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    seeds.push(
        [
            vec![b'a'; fakedc_ssh::terminal::MAX_LINE + 3],
            b"\x7f\r".to_vec(),
        ]
        .concat(),
    );
    seeds
}

#[test]
fn ssh_terminal() {
    let dict: &[&[u8]] = &[
        b"\r",
        b"\n",
        b"\r\n",
        b"\x1b[",
        b"\x1b",
        b"\x03",
        b"\x04",
        b"\x15",
        b"\x7f",
        b"\x08",
        b"\xe2\x82\xac",
    ];
    let ran = run(
        &smoke("ssh/terminal", terminal_seeds(), 1000, dict),
        ssh_fuzz::terminal,
    );
    eprintln!("ssh/terminal: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Digest headers for every algorithm, plain and with `userhash`, computed
/// with the target's password (so they verify there), and RFC 7616's example.
fn digest_seeds() -> Vec<Vec<u8>> {
    use fakedc_smash::digest::{parse_credentials, request_digest, user_hash, verify, Algorithm};
    let mut seeds = Vec::new();
    let (realm, nonce, uri, cnonce) = ("fakedc BMC", "bm9uY2Utbm9uY2U", "/wsman", "0a4f113b");
    for alg in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ] {
        for userhash in [false, true] {
            let user = if userhash {
                user_hash(alg, "admin", realm)
            } else {
                "admin".to_string()
            };
            let response = request_digest(
                alg,
                &user,
                realm,
                smash_fuzz::PASSWORD,
                "POST",
                uri,
                nonce,
                "00000001",
                cnonce,
            );
            let h = format!(
                r#"username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm={}, response="{response}", qop=auth, nc=00000001, cnonce="{cnonce}", opaque="b3BhcXVl", userhash={userhash}"#,
                alg.name()
            );
            let c = parse_credentials(&h).expect("seed parses");
            assert!(verify(&c, &c.username, smash_fuzz::PASSWORD, "POST"));
            seeds.push(h.into_bytes());
        }
    }
    seeds.push(
        br#"username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            .to_vec(),
    );
    seeds.push(br#"username="caf\"e", realm="r", nonce="n", uri="/wsman", response="AB", qop="auth", nc=0000000a, cnonce="c""#.to_vec());
    seeds
}

#[test]
fn smash_digest() {
    let dict: &[&[u8]] = &[
        b"\"",
        b"\\",
        b",",
        b"=",
        b"username*=",
        b"algorithm=MD5-sess",
        b"ffffffff",
    ];
    let ran = run(
        &smoke("smash/digest", digest_seeds(), 3000, dict),
        smash_fuzz::digest,
    );
    eprintln!("smash/digest: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Header values and paths as BITS clients and browsers send them.
fn bits_seeds() -> Vec<Vec<u8>> {
    use fakedc_bits::proto;
    let mut seeds: Vec<Vec<u8>> = [
        "Ping",
        "Create-Session",
        "Fragment",
        "close-session",
        "Cancel-Session",
        "bytes 0-65535/200000",
        "Bytes 131072-199999/200000",
        "bytes=0-99,200-,-500",
        "bytes=0-0",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "\"65513bb0-2a\"",
        "W/\"x\", \"y\"",
        "*",
        proto::PROTOCOL_BITS_1_5,
        "0x8020001F",
        "2147942405",
        "/share/dir/file%20name.vhdx",
        "/a/./b//c?x=1#frag",
        "/a/%2e%2e/b",
        "/.bits-sessions/x",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.push(proto::basic_header("HV01\\Administrator", "p@ss:word").into_bytes());
    seeds.push(proto::new_session_id([0x5a; 16]).into_bytes());
    seeds
}

#[test]
fn bits_headers() {
    let dict: &[&[u8]] = &[
        b"%",
        b"%2F",
        b"%00",
        b"..",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-",
        b",",
        b"/",
        b"bytes=",
    ];
    let ran = run(
        &smoke("bits/headers", bits_seeds(), 4000, dict),
        bits_fuzz::headers,
    );
    eprintln!("bits/headers: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// SOAP envelopes of both versions as the coming services exchange them
/// (requests with header blocks for and not for us, faults as WCF, vCenter
/// and Windows write them), two WinRM requests, and the escapers' hard
/// cases.
fn soap_seeds() -> Vec<Vec<u8>> {
    use fakedc_xml::soap::{EnvelopeWriter, Fault, FaultCode, Version};
    // Two WinRM requests (wsman/envelope has them all): a shell Create and
    // a go-winrm Command with CDATA.
    let winrm = envelope_seeds();
    let mut seeds: Vec<Vec<u8>> = vec![winrm[0].clone(), winrm[6].clone()];
    let s12 = r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope""#;
    let s11 = r#"xmlns:s="http://schemas.xmlsoap.org/soap/envelope/""#;
    for text in [
        format!(
            r#"<s:Envelope {s12} xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:h="urn:h"><s:Header><a:Action s:mustUnderstand="1">urn:x</a:Action><h:Gw s:mustUnderstand="true" s:role="urn:gw"/><h:None s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/none"/></s:Header><s:Body><m:Get xmlns:m="urn:m" xml:lang="en">a &amp; b&#13;</m:Get></s:Body></s:Envelope>"#
        ),
        format!(
            r#"<s:Envelope {s11}><s:Header><t:Tx xmlns:t="urn:t" s:mustUnderstand="1" s:actor="http://schemas.xmlsoap.org/soap/actor/next">5</t:Tx></s:Header><s:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></s:Body></s:Envelope>"#
        ),
        format!(
            r#"<s:Envelope {s11} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:Body><s:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete login due to an incorrect user name or password.</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail></s:Fault></s:Body></s:Envelope>"#
        ),
        format!(
            r#"<s:Envelope {s12}><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:ActionNotSupported</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">ContractFilter mismatch</s:Text></s:Reason><s:Node>urn:n</s:Node><s:Role>urn:r</s:Role><s:Detail><x xmlns="urn:x"><y/></x></s:Detail></s:Fault></s:Body></s:Envelope>"#
        ),
        format!(r#"<s:Envelope {s12}><s:Body/><s:Body/></s:Envelope>"#),
        r#"<Envelope xmlns="urn:not-soap"><Body/></Envelope>"#.to_string(),
        "a & b < c > d \" ' ]]> \r\n\t é".to_string(),
    ] {
        seeds.push(text.into_bytes());
    }
    for v in [Version::Soap11, Version::Soap12] {
        let fault = Fault::new(FaultCode::MustUnderstand, "not understood \r\n <x>")
            .with_subcode("w:TimedOut")
            .with_detail(r#"<d xmlns="urn:d" k="v">1</d>"#);
        let mut w = EnvelopeWriter::with(v, "s", &[("xmlns:w", "urn:w")]);
        w.header_text("w:H", "t", true);
        seeds.push(w.finish_fault(&fault).into_bytes());
    }
    seeds
}

#[test]
fn xml_soap() {
    let dict: &[&[u8]] = &[
        b"<s:Fault>",
        b"</s:Fault>",
        b"<faultcode>",
        b"<s:Subcode><s:Value>",
        b" s:mustUnderstand=\"true\"",
        b" s:role=\"http://www.w3.org/2003/05/soap-envelope/role/next\"",
        b" xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"",
        b" xmlns=\"\"",
        b"&#13;",
        b"&#x1F600;",
        b"<![CDATA[",
        b"<!DOCTYPE x [<!ENTITY e \"e\">]>",
        b"\r\n",
    ];
    let ran = run(&smoke("xml/soap", soap_seeds(), 1000, dict), xml_fuzz::soap);
    eprintln!("xml/soap: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Programs for the wire round trip: a count of program bytes, the program
/// (low nibble: which read, high nibble: its size), then the bytes it reads.
fn wire_seeds() -> Vec<Vec<u8>> {
    fn seed(program: &[u8], input: &[u8]) -> Vec<u8> {
        let mut s = vec![u8::try_from(program.len()).expect("short program")];
        s.extend_from_slice(program);
        s.extend_from_slice(input);
        s
    }
    // A TDS PRELOGIN header (type, status, length BE, spid, packet id,
    // window) and its first option token.
    let tds = [
        0x12, 0x01, 0x00, 0x2f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x06,
    ];
    // "SQL01" in UTF-16LE, an unpaired surrogate, then padding.
    let mut text = Vec::new();
    for u in "SQL01".encode_utf16() {
        text.extend_from_slice(&u.to_le_bytes());
    }
    text.extend_from_slice(&[0x00, 0xd8, 0x41, 0x00, 0, 0, 0]);
    let ramp: Vec<u8> = (0..=255).collect();
    vec![
        seed(
            &[0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x0f, 0x38],
            &tds,
        ),
        seed(&[0x5a, 0x2a, 0x0b, 0x4c, 0x3d], &text),
        seed(
            &[
                0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x17, 0x27, 0x37, 0x47, 0x57, 0x67,
                0x48, 0x39, 0x8c, 0x4d, 0x3e, 0x10, 0x0f, 0x0f,
            ],
            &ramp,
        ),
        seed(&[0xfe, 0x08, 0x0d], &ramp[..3]),
        seed(&[], &[]),
        vec![],
    ]
}

#[test]
fn wire_roundtrip() {
    let dict: &[&[u8]] = &[
        &[0x00, 0xd8],
        &[0x00, 0xdc],
        &[0xff, 0xff, 0xff, 0xff],
        &[0x0f],
        &[0xfd],
    ];
    let ran = run(
        &smoke("wire/roundtrip", wire_seeds(), 4000, dict),
        wire_fuzz::roundtrip,
    );
    eprintln!("wire/roundtrip: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// TDS: a PRELOGIN packet (nmap's), a LOGIN7 packet, SQL batches with
/// ALL_HEADERS, an RPC sp_executesql with parameters, and a stream of
/// several packets; every decoder runs on each (`tds/decode`).
fn tds_seeds() -> Vec<Vec<u8>> {
    use fakedc_tds::login7::{Login7, TDS_74};
    use fakedc_tds::packet::{packetize, PacketType};
    use fakedc_tds::prelogin::PreLogin;
    let pre = PreLogin {
        options: vec![
            (0, vec![9, 0, 0, 0, 0, 0]),
            (1, vec![0]),
            (2, b"MSSQLServer\0".to_vec()),
            (3, vec![0, 0, 4, 0xD2]),
        ],
    }
    .write();
    let login = Login7 {
        tds_version: TDS_74,
        packet_size: 4096,
        hostname: "client".into(),
        username: "sa".into(),
        password: "P@ssw0rd!".into(),
        app_name: "pytds".into(),
        database: "master".into(),
        ..Login7::default()
    }
    .write();
    let mut batch = vec![
        22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];
    for u in "SELECT TOP 1 [a] FROM dbo.t WHERE b = N'x' SET NOCOUNT ON; USE [db]".encode_utf16() {
        batch.extend_from_slice(&u.to_le_bytes());
    }
    let mut rpc = vec![
        22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];
    rpc.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
    rpc.extend_from_slice(&[
        0, 0, 0xE7, 0x10, 0, 9, 4, 0xD0, 0, 0x34, 4, 0, b'h', 0, b'i', 0,
    ]);
    rpc.extend_from_slice(&[2, b'@', 0, b'x', 0, 0, 0x26, 4, 4, 7, 0, 0, 0]);
    // Control flow, CAST/CONVERT and a divisor for the translator; a
    // DATETIME2N and a GUID parameter for the RPC decoder.
    let mut flow = vec![
        22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];
    for u in "IF EXISTS (SELECT 1) BEGIN SELECT CAST('1' AS INT) / (2 % 3) END ELSE WHILE @i < 2 BEGIN SET @i = CONVERT(INT, @i) + 1 IF @i = 1 CONTINUE BREAK END".encode_utf16() {
        flow.extend_from_slice(&u.to_le_bytes());
    }
    // Table variables and implicit conversions for the translator.
    let mut tv = vec![
        22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];
    for u in "DECLARE @t AS TABLE (id INT IDENTITY(1,1), v DECIMAL(5,2)); INSERT @t VALUES ('1'); DELETE @t WHERE 1 + 'a' = 2 * '3'; SELECT v FROM @t; DECLARE @i INT = '4'; SET @i = 'x'".encode_utf16() {
        tv.extend_from_slice(&u.to_le_bytes());
    }
    let mut rpc2 = vec![
        22, 0, 0, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ];
    rpc2.extend_from_slice(&[0xFF, 0xFF, 13, 0, 0, 0]);
    rpc2.extend_from_slice(&[0, 0, 0x2A, 7, 8, 1, 2, 3, 4, 5, 0x10, 0x20, 0x0B]);
    rpc2.extend_from_slice(&[0, 0, 0x24, 16, 16]);
    rpc2.extend_from_slice(&[7; 16]);
    let mut stream = packetize(PacketType::PreLogin, &pre, 4096, 0);
    stream.extend(packetize(PacketType::Login7, &login, 512, 0));
    stream.extend(packetize(PacketType::SqlBatch, &batch, 512, 0));
    vec![
        pre.clone(),
        login.clone(),
        batch.clone(),
        rpc.clone(),
        packetize(PacketType::PreLogin, &pre, 4096, 0),
        packetize(PacketType::Login7, &login, 4096, 0),
        packetize(PacketType::Rpc, &rpc, 4096, 0),
        flow.clone(),
        rpc2.clone(),
        packetize(PacketType::SqlBatch, &flow, 4096, 0),
        packetize(PacketType::Rpc, &rpc2, 4096, 0),
        tv,
        stream,
    ]
}

#[test]
fn tds_decode() {
    let dict: &[&[u8]] = &[
        &[0x12, 0x01],
        &[0x10, 0x01],
        &[0x01, 0x01],
        &[0xFF, 0xFF],
        &[0x00, 0x00, 0x00, 0x74],
        &[0xE7, 0xFF, 0xFF],
        b"[",
        b"'",
        b"TOP",
    ];
    let ran = run(
        &smoke("tds/decode", tds_seeds(), 3000, dict),
        tds_fuzz::decode,
    );
    eprintln!("tds/decode: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// The captured Mono net.tcp exchange (preamble, request, reply records),
/// the same with an UpgradeRequest, an unsized envelope and faults
/// (`wcf/nmf`); NNS messages of a live NTLM handshake and sealed frames
/// (`wcf/nns`); the captured envelopes' binary XML (`wcf/nbfx`).
/// Seed inputs of one fuzz target.
type Seeds = Vec<Vec<u8>>;

fn wcf_seeds() -> (Seeds, Seeds, Seeds) {
    use fakedc_wcf::{golden, nmf, nns};
    let b = |h: &str| golden::bytes(h).expect("golden hex");
    let (pre, req, rep) = (b(golden::PREAMBLE), b(golden::REQUEST), b(golden::REPLY));
    let mut upgrade = pre[..pre.len() - 1].to_vec();
    nmf::encode(
        &nmf::Record::UpgradeRequest("application/negotiate".into()),
        &mut upgrade,
    );
    let mut misc = Vec::new();
    nmf::encode(&nmf::Record::UnsizedEnvelope(b"abc".to_vec()), &mut misc);
    misc.extend_from_slice(&nmf::fault_bytes(nmf::Fault::EndpointNotFound));
    misc.extend_from_slice(&[0x0b, 0x0a, 0x07]);
    let nmf_seeds = vec![
        [pre.clone(), req.clone(), rep.clone(), vec![0x07]].concat(),
        upgrade,
        misc,
        vec![0x00, 0x1e, 0x00, 0x06],
    ];
    let mut ini = nns::client::Initiator::new("Administrator", "", "P@ss");
    let first = ini.first();
    let mut s = fakedc_ntlm::Session::new(
        [7; 16],
        fakedc_ntlm::flags::SEAL | fakedc_ntlm::flags::SIGN,
        false,
    );
    let mut framed = Vec::new();
    nns::seal(&mut s, &[0x0c], &mut framed);
    let nns_seeds = vec![
        first.clone(),
        [first, nns::error_message(nns::SEC_E_LOGON_DENIED)].concat(),
        framed,
    ];
    let nbfx_seeds = vec![req[3..].to_vec(), rep[3..].to_vec()];
    (nmf_seeds, nns_seeds, nbfx_seeds)
}

#[test]
fn wcf_nmf() {
    let dict: &[&[u8]] = &[&[0x06, 0xff, 0xff, 0x03], &[0x09, 0x15], &[0x0c], &[0x07]];
    let ran = run(&smoke("wcf/nmf", wcf_seeds().0, 3000, dict), wcf_fuzz::nmf);
    eprintln!("wcf/nmf: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

#[test]
fn wcf_nns() {
    let dict: &[&[u8]] = &[
        &[0x16, 0x01, 0x00],
        &[0x14, 0x01, 0x00],
        &[0x30, 0xfc, 0x00, 0x00],
    ];
    let ran = run(&smoke("wcf/nns", wcf_seeds().1, 1500, dict), wcf_fuzz::nns);
    eprintln!("wcf/nns: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

#[test]
fn wcf_nbfx() {
    let dict: &[&[u8]] = &[
        &[0x01],
        &[0x99],
        &[0x43, 0x01, 0x73],
        &[0x0b, 0x01, 0x61],
        &[0xbc],
        &[0xac],
    ];
    let ran = run(
        &smoke("wcf/nbfx", wcf_seeds().2, 3000, dict),
        wcf_fuzz::nbfx,
    );
    eprintln!("wcf/nbfx: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// SMB: framed messages as smbclient sends them (a 3.1.1 NEGOTIATE with
/// preauth, encryption and signing contexts, SESSION_SETUP with an NTLM
/// NEGOTIATE in SPNEGO, a related CREATE+CLOSE compound), an SMB1
/// NEGOTIATE asking for 2.???, a NetBIOS session request, a transform
/// header (`smb/decode`); a srvsvc bind followed by NetrShareEnum level 1
/// (`smb/rpc`).
fn smb_seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    use fakedc_smb::nbss;
    use fakedc_smb::proto::{cmd, Header, FLAG_RELATED};
    fn msg(command: u16, id: u64, flags: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        Header {
            command,
            message_id: id,
            credits: 10,
            credit_charge: 1,
            flags,
            ..Header::default()
        }
        .write(&mut m);
        m.extend_from_slice(body);
        m
    }
    fn framed(m: &[u8]) -> Vec<u8> {
        let mut f = nbss::message_header(m.len()).to_vec();
        f.extend_from_slice(m);
        f
    }
    let mut neg = Vec::new();
    neg.extend_from_slice(&36u16.to_le_bytes());
    neg.extend_from_slice(&5u16.to_le_bytes());
    neg.extend_from_slice(&1u16.to_le_bytes());
    neg.extend_from_slice(&0u16.to_le_bytes());
    neg.extend_from_slice(&0x7fu32.to_le_bytes());
    neg.extend_from_slice(&[0x11; 16]);
    neg.extend_from_slice(&112u32.to_le_bytes()); // contexts at 64 + 48
    neg.extend_from_slice(&3u16.to_le_bytes());
    neg.extend_from_slice(&0u16.to_le_bytes());
    for d in [0x0202u16, 0x0210, 0x0300, 0x0302, 0x0311] {
        neg.extend_from_slice(&d.to_le_bytes());
    }
    neg.extend_from_slice(&[0, 0]);
    let ctx = |ty: u16, data: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
    };
    let mut pre = vec![1, 0, 32, 0, 1, 0];
    pre.extend_from_slice(&[0x22; 32]);
    ctx(1, &pre, &mut neg);
    ctx(2, &[2, 0, 2, 0, 1, 0], &mut neg);
    ctx(8, &[3, 0, 2, 0, 1, 0, 0, 0], &mut neg);
    let mut client = fakedc_ntlm::Client::new("Administrator", "", "P@ssw0rd!");
    let tok = fakedc_ntlm::spnego::init(&client.negotiate());
    let mut ss = Vec::new();
    ss.extend_from_slice(&25u16.to_le_bytes());
    ss.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    ss.extend_from_slice(&88u16.to_le_bytes());
    ss.extend_from_slice(&(tok.len() as u16).to_le_bytes());
    ss.extend_from_slice(&[0; 8]);
    ss.extend_from_slice(&tok);
    let name: Vec<u8> = "srvsvc".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut create = Vec::new();
    create.extend_from_slice(&57u16.to_le_bytes());
    create.extend_from_slice(&[0; 2 + 4 + 16]);
    for v in [0x0012_019Fu32, 0, 3, 1, 0x40] {
        create.extend_from_slice(&v.to_le_bytes());
    }
    create.extend_from_slice(&120u16.to_le_bytes());
    create.extend_from_slice(&(name.len() as u16).to_le_bytes());
    create.extend_from_slice(&[0; 8]);
    create.extend_from_slice(&name);
    let mut c1 = msg(cmd::CREATE, 3, 0, &create);
    while !c1.len().is_multiple_of(8) {
        c1.push(0);
    }
    let n = c1.len() as u32;
    c1[20..24].copy_from_slice(&n.to_le_bytes());
    let mut close = vec![24, 0, 0, 0, 0, 0, 0, 0];
    close.extend_from_slice(&[0xFF; 16]);
    c1.extend(msg(cmd::CLOSE, 4, FLAG_RELATED, &close));
    let mut stream = framed(&msg(cmd::NEGOTIATE, 0, 0, &neg));
    stream.extend(framed(&msg(cmd::SESSION_SETUP, 1, 0, &ss)));
    stream.extend(framed(&c1));
    let mut smb1 = vec![0xFF, b'S', b'M', b'B', 0x72];
    smb1.resize(35, 0);
    smb1.extend_from_slice(b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0");
    let mut nb = nbss::session_request("HV01", "VM");
    nb.extend(framed(&msg(cmd::NEGOTIATE, 0, 0, &neg)));
    let transform = framed(&fakedc_smb::crypto::encrypt(
        fakedc_smb::crypto::Cipher::Aes128Gcm,
        &[1; 16],
        7,
        [2; 16],
        &msg(cmd::ECHO, 2, 0, &[4, 0, 0, 0]),
    ));
    let decode = vec![stream, framed(&smb1), nb, transform, framed(&c1)];
    // DCE/RPC: bind srvsvc with NDR20, then NetrShareEnum level 1.
    let mut bind = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    bind.extend_from_slice(&[0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    bind.extend_from_slice(&fakedc_smb::rpc::SRVSVC.0);
    bind.extend_from_slice(&3u32.to_le_bytes());
    bind.extend_from_slice(&fakedc_smb::rpc::NDR20.0);
    bind.extend_from_slice(&2u32.to_le_bytes());
    let n = bind.len() as u16;
    bind[8..10].copy_from_slice(&n.to_le_bytes());
    let mut stub = Vec::new();
    for v in [0x20000u32, 8, 0, 8] {
        stub.extend_from_slice(&v.to_le_bytes());
    }
    for u in "\\\\HV01\0".encode_utf16() {
        stub.extend_from_slice(&u.to_le_bytes());
    }
    for v in [1u32, 1, 0x20004, 0, 0, 0xFFFF_FFFF, 0x20008, 0] {
        stub.extend_from_slice(&v.to_le_bytes());
    }
    let mut req = vec![5, 0, 0, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
    req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    req.extend_from_slice(&[0, 0, 15, 0]);
    req.extend_from_slice(&stub);
    let n = req.len() as u16;
    req[8..10].copy_from_slice(&n.to_le_bytes());
    let mut both = bind.clone();
    both.extend_from_slice(&req);
    (decode, vec![both, bind, stub])
}

#[test]
fn smb_decode() {
    let dict: &[&[u8]] = &[
        &[0xFE, b'S', b'M', b'B'],
        &[0xFD, b'S', b'M', b'B'],
        &[0x11, 0x03],
        &[0xFF, 0xFF, 0xFF, 0xFF],
        &[0x81, 0, 0, 0x44],
        &[0x40, 0x00],
    ];
    let (seeds, _) = smb_seeds();
    let ran = run(&smoke("smb/decode", seeds, 2000, dict), smb_fuzz::decode);
    eprintln!("smb/decode: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

#[test]
fn smb_rpc() {
    let dict: &[&[u8]] = &[&[5, 0, 11, 3], &[5, 0, 0, 3], &[0x0f, 0x00], &[0xFF, 0xFF]];
    let (_, seeds) = smb_seeds();
    let ran = run(&smoke("smb/rpc", seeds, 3000, dict), smb_fuzz::rpc);
    eprintln!("smb/rpc: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// What pyvmomi sends (RetrieveServiceContent, Login, Fetch, a container
/// view read through RetrievePropertiesEx with a traversal spec and
/// maxObjects, CreateFilter on a task, a power task, FindByInventoryPath,
/// a datastore search) and an entity-expansion attempt (`vsphere/sdk`).
fn vsphere_seeds() -> Vec<Vec<u8>> {
    use fakedc_vsphere::client::envelope;
    let bodies = [
        r#"<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance" versionId="8.0.3.0">ServiceInstance</_this></RetrieveServiceContent>"#,
        r#"<Login xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this><userName>root</userName><password>VMware1!</password></Login>"#,
        r#"<Fetch xmlns="urn:vim25"><_this type="VirtualMachine">1</_this><prop>summary.runtime.powerState</prop></Fetch>"#,
        r#"<Fetch xmlns="urn:vim25"><_this type="VirtualMachine">1</_this><prop>snapshot</prop></Fetch>"#,
        r#"<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">ha-folder-root</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>"#,
        r#"<RetrievePropertiesEx xmlns="urn:internalvim25"><_this type="PropertyCollector">ha-property-collector</_this><specSet><propSet><type>VirtualMachine</type><all>false</all><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type="Folder">ha-folder-root</obj><skip>false</skip><selectSet xsi:type="TraversalSpec"><name>f</name><type>Folder</type><path>childEntity</path><skip>false</skip><selectSet><name>f</name></selectSet><selectSet xsi:type="TraversalSpec"><name>d</name><type>Datacenter</type><path>vmFolder</path><skip>false</skip><selectSet><name>f</name></selectSet></selectSet></selectSet></objectSet></specSet><options><maxObjects>1</maxObjects></options></RetrievePropertiesEx>"#,
        r#"<CreateFilter xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><spec><propSet><type>Task</type><all>true</all></propSet><objectSet><obj type="Task">haTask-1</obj></objectSet></spec><partialUpdates>true</partialUpdates></CreateFilter>"#,
        r#"<CheckForUpdates xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><version></version></CheckForUpdates>"#,
        r#"<PowerOffVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">1</_this></PowerOffVM_Task>"#,
        r#"<FindByInventoryPath xmlns="urn:vim25"><_this type="SearchIndex">ha-searchindex</_this><inventoryPath>ha-datacenter/vm/web01</inventoryPath></FindByInventoryPath>"#,
        r#"<SearchDatastore_Task xmlns="urn:vim25"><_this type="HostDatastoreBrowser">ha-host-datastorebrowser</_this><datastorePath>[datastore1] iso</datastorePath><searchSpec><matchPattern>*.iso</matchPattern></searchSpec></SearchDatastore_Task>"#,
        r#"<QueryEvents xmlns="urn:vim25"><_this type="EventManager">ha-eventmgr</_this><filter><entity><entity type="VirtualMachine">1</entity><recursion>self</recursion></entity></filter></QueryEvents>"#,
    ];
    let mut seeds: Vec<Vec<u8>> = bodies.iter().map(|b| envelope(b).into_bytes()).collect();
    seeds.push(b"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">]><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><X xmlns=\"urn:vim25\">&a;</X></soapenv:Body></soapenv:Envelope>".to_vec());
    seeds.push(b"/folder/iso/%2e%2e/x.iso".to_vec());
    seeds.push(b"dcPath=ha-datacenter&dsName=datastore%201".to_vec());
    seeds
}

#[test]
fn vsphere_sdk() {
    let dict: &[&[u8]] = &[
        b"<_this type=\"VirtualMachine\">1</_this>",
        b"<selectSet><name>f</name></selectSet>",
        b"xsi:type=\"TraversalSpec\"",
        b"<pathSet>",
        b"<maxObjects>0</maxObjects>",
        b"urn:internalvim25",
        b"%2e%2e",
        b"&amp;",
    ];
    let ran = run(
        &smoke("vsphere/sdk", vsphere_seeds(), 1500, dict),
        vsphere_fuzz::sdk,
    );
    eprintln!("vsphere/sdk: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// Redfish: a session login, a Reset, a Boot PATCH, reads of every
/// resource, with and without credentials (`redfish/request`).
fn redfish_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let reqs: &[(u8, &str, &str)] = &[
        (0, "/redfish/v1/", ""),
        (0, "/redfish/v1/$metadata", ""),
        (
            1,
            "/redfish/v1/SessionService/Sessions",
            r#"{"UserName":"admin","Password":"password"}"#,
        ),
        (
            8 | 1,
            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
            r#"{"ResetType":"ForceRestart"}"#,
        ),
        (
            8 | 2,
            "/redfish/v1/Systems/1",
            r#"{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}"#,
        ),
        (
            0x20 | 8 | 2,
            "/redfish/v1/AccountService/Accounts/2",
            r#"{"Password":"password"}"#,
        ),
        (8, "/redfish/v1/Systems/1", ""),
        (8, "/redfish/v1/Chassis/1", ""),
        (8, "/redfish/v1/Managers/1", ""),
        (8, "/redfish/v1/AccountService/Accounts", ""),
        (8 | 3, "/redfish/v1/SessionService/Sessions/1", ""),
        (24, "/redfish/v1/Systems", ""),
        (8, "/redfish/v1/?$expand=*($levels=3)&$select=Systems", ""),
        (8, "/redfish/v1/AccountService/Accounts?$top=1&$skip=1", ""),
        (8, "/redfish/v1/Systems?$filter=x%20eq%20%27y%27", ""),
        (8, "/redfish/v1/Systems/1/Processors/CPU2", ""),
        (8, "/redfish/v1/Systems/1/Memory/DIMM16", ""),
        (8, "/redfish/v1/Systems/1/EthernetInterfaces/NIC01", ""),
        (8, "/redfish/v1/Systems/1/Storage/1/Drives/Disk2", ""),
        (
            8,
            "/redfish/v1/Systems/1/SimpleStorage/1?$select=Devices",
            "",
        ),
        (10, "/redfish/v1/Systems/1/Bios", r#"{"Attributes":{}}"#),
        (
            9,
            "/redfish/v1/AccountService/Accounts",
            r#"{"UserName":"fz","Password":"Fuzz-1","RoleId":"Operator","PasswordChangeRequired":true}"#,
        ),
        (
            9,
            "/redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia",
            r#"{"Image":"http://127.0.0.1/a.iso","Inserted":true}"#,
        ),
        (
            9,
            "/redfish/v1/EventService/Subscriptions",
            r#"{"Destination":"http://127.0.0.1:9/e","Protocol":"Redfish","Context":"c"}"#,
        ),
        (
            9,
            "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
            r#"{"MessageId":"ResourceEvent.1.4.3.ResourceChanged"}"#,
        ),
        (
            9,
            "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            r#"{"ImageURI":"http://127.0.0.1/bmc-7.20.00.bin","Targets":["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]}"#,
        ),
        (8, "/redfish/v1/TaskService/TaskMonitors/1", ""),
        (11, "/redfish/v1/TaskService/TaskMonitors/1", ""),
        (8, "/redfish/v1/TaskService/Tasks/1?$select=TaskState", ""),
        (8, "/redfish/v1/Chassis/1/ThermalSubsystem/Fans/Fan1", ""),
        (8, "/redfish/v1/Chassis/1/Thermal", ""),
    ];
    for (sel, path, body) in reqs {
        let mut s = vec![*sel];
        s.extend_from_slice(path.as_bytes());
        s.push(b'\n');
        s.extend_from_slice(body.as_bytes());
        seeds.push(s);
    }
    seeds
}

#[test]
fn redfish_request() {
    let dict: &[&[u8]] = &[
        b"\"ResetType\":",
        b"\"Boot\":{",
        b"/redfish/v1/",
        b"Sessions/",
        b"Accounts/",
        b"%2e%2e",
        b"\"Password\":\"",
        b"ForceOff",
    ];
    let ran = run(
        &smoke("redfish/request", redfish_seeds(), 1500, dict),
        redfish_fuzz::request,
    );
    eprintln!(
        "redfish/request: {} inputs in {:?}",
        ran.inputs, ran.elapsed
    );
}

/// VMConnect: xfreerdp's preconnection PDU, TSRequests of each CredSSP
/// leg, TSCredentials, an X.224 Connection Request, an MCS Connect
/// Initial, domain PDUs, a slow-path input PDU and fast-path input
/// (`rdp/decode`).
fn rdp_seeds() -> Vec<Vec<u8>> {
    use fakedc_rdp::credssp::{encode_credentials, PasswordCreds, TsRequest};
    use fakedc_rdp::{pcb, pdu};
    let ts = |r: TsRequest| r.encode();
    let mut cr = vec![0, 0xe0, 0, 0, 0, 0, 0];
    cr.extend(b"Cookie: mstshash=Administrator\r\n");
    cr.extend([1, 0, 8, 0, 2, 0, 0, 0]);
    cr[0] = u8::try_from(cr.len() - 1).expect("short CR");
    let client = pdu::ClientData {
        width: 1024,
        height: 768,
        client_name: "ws01".into(),
        keyboard_layout: 0x409,
        color_depth: 32,
        server_selected_protocol: 2,
        channels: vec!["cliprdr".into(), "drdynvc".into()],
    };
    // Send Data Request on the I/O channel: a share data Input PDU with a
    // scancode and a Unicode event.
    let mut input = vec![0u8; 0];
    input.extend(2u16.to_le_bytes());
    input.extend(0u16.to_le_bytes());
    input.extend([0, 0, 0, 0, 4, 0, 0, 0, 0x1e, 0, 0, 0]);
    input.extend([0, 0, 0, 0, 5, 0, 0, 0, 0x41, 0, 0, 0]);
    let mut share = Vec::new();
    share.extend(
        u16::try_from(18 + input.len())
            .expect("short")
            .to_le_bytes(),
    );
    share.extend(0x17u16.to_le_bytes());
    share.extend(1007u16.to_le_bytes());
    share.extend(0x0001_03eau32.to_le_bytes());
    share.extend([0, 1, 0, 0, 28, 0, 0, 0]);
    share.extend(&input);
    let mut sd = vec![0x64, 0, 6, 0x03, 0xeb, 0x70];
    sd.push(u8::try_from(share.len()).expect("short"));
    sd.extend(&share);
    vec![
        pcb::encode_v2("C824F53E-95D2-46C6-9A18-23A5BB403532"),
        pcb::encode_v2("C824F53E-95D2-46C6-9A18-23A5BB403532;EnhancedMode=1"),
        ts(TsRequest {
            version: 6,
            nego_token: Some(b"NTLMSSP\0\x01\0\0\0\x97\x82\x08\xe2".to_vec()),
            ..TsRequest::default()
        }),
        ts(TsRequest {
            version: 6,
            nego_token: Some(vec![0x4e; 200]),
            pub_key_auth: Some(vec![1; 48]),
            client_nonce: Some([7; 32]),
            ..TsRequest::default()
        }),
        ts(TsRequest {
            version: 6,
            error_code: Some(0xc000_006d),
            ..TsRequest::default()
        }),
        encode_credentials(&PasswordCreds {
            domain: "HV01".into(),
            user: "Administrator".into(),
            password: "P@ssw0rd!".into(),
        }),
        pdu::tpkt(&cr),
        pdu::encode_connect_initial(&client),
        pdu::x224_data(&[0x04, 0x01, 0x00, 0x01, 0x00]),
        pdu::x224_data(&[0x28]),
        pdu::x224_data(&[0x38, 0x00, 0x06, 0x03, 0xeb]),
        pdu::x224_data(&sd),
        vec![0x08, 0x06, 0x00, 0x1e, 0x01, 0x1e],
        vec![0x00, 0x05, 0x02, 0x80, 0x41, 0x00],
        vec![],
    ]
}

#[test]
fn rdp_decode() {
    let dict: &[&[u8]] = &[
        &[0x03, 0x00],
        &[0x02, 0xf0, 0x80],
        &[0x7f, 0x65],
        &[0x30, 0x82],
        &[0xa0, 0x03, 0x02, 0x01, 0x06],
        b"Duca",
        &[0xc0, 0x01],
        &[0x64, 0x00, 0x06, 0x03, 0xeb],
        &[0xff, 0xff],
    ];
    let ran = run(
        &smoke("rdp/decode", rdp_seeds(), 3000, dict),
        rdp_fuzz::decode,
    );
    eprintln!("rdp/decode: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// WSUS: each client, SimpleAuth, Reporting and admin request, with a
/// valid authorization cookie and cookie (sealed by a server made as the
/// target makes its own, so mutants reach the sync logic), a DTD bomb and
/// content paths; the first byte picks the service and the SOAPAction
/// form (`wsus/request`).
fn wsus_seeds() -> Vec<Vec<u8>> {
    use fakedc_wsus::msg::{self, NS_ADMIN, NS_AUTH, NS_CLIENT, NS_REPORTING};
    use fakedc_wsus::server::{Cx, Server, WsusOptions};
    let o = WsusOptions {
        updates: 30,
        file_size: 512,
        ..WsusOptions::default()
    };
    let s = Server::new(&o, 1_700_000_000_000, [3; 32]);
    let cx = Cx {
        now_ms: 1_700_000_000_100,
        base_url: "http://wsus01:8530",
    };
    let el = |x: &str| fakedc_xml::parse(x.as_bytes(), &msg::LIMITS).expect("seed xml");
    let between = |x: &str, t: &str| {
        x.split(&format!("<{t}>"))
            .nth(1)
            .and_then(|r| r.split('<').next())
            .expect("tag")
            .to_string()
    };
    let a = s
        .get_authorization_cookie(&el("<a><clientId>hv01</clientId></a>"))
        .map_err(|e| e.0)
        .expect("auth cookie")
        .xml;
    let data = between(&a, "CookieData");
    let last = msg::datetime(s.config_ms);
    let auth = format!("<authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies>");
    let c = s
        .get_cookie(
            &el(&format!("<g>{auth}<lastChange>{last}</lastChange></g>")),
            &cx,
        )
        .map_err(|e| e.0)
        .expect("cookie")
        .xml;
    let cookie = format!(
        "<cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>{}</EncryptedData></cookie>",
        between(&c, "EncryptedData")
    );
    let env = |sel: u8, ns: &str, op: &str, inner: &str| {
        let mut v = vec![sel];
        v.extend_from_slice(
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><{op} xmlns=\"{ns}\">{inner}</{op}></soap:Body></soap:Envelope>").as_bytes(),
        );
        v
    };
    let ids = "<int>1000</int><int>1001</int><int>1002</int><int>1003</int><int>1004</int><int>1005</int><int>1006</int>";
    vec![
        env(0, NS_CLIENT, "GetConfig", "<protocolVersion>1.8</protocolVersion>"),
        env(1, NS_AUTH, "GetAuthorizationCookie", "<clientId>hv01</clientId><targetGroupName>Hyper-V Hosts</targetGroupName><dnsName>hv01</dnsName>"),
        env(8, NS_CLIENT, "GetCookie", &format!("{auth}<lastChange>{last}</lastChange><currentTime>{last}</currentTime><protocolVersion>1.8</protocolVersion>")),
        env(8, NS_CLIENT, "GetCookie", &format!("{auth}<lastChange>2020-01-01T00:00:00Z</lastChange><currentTime>2020-01-01T00:00:00Z</currentTime><protocolVersion>1.8</protocolVersion>")),
        env(0, NS_CLIENT, "RegisterComputer", &format!("{cookie}<computerInfo><DnsName>hv01</DnsName><OSMajorVersion>10</OSMajorVersion></computerInfo>")),
        env(4, NS_CLIENT, "SyncUpdates", &format!("{cookie}<parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs>{ids}</InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs><int>100008</int></OtherCachedUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync></parameters>")),
        env(0, NS_CLIENT, "GetExtendedUpdateInfo", &format!("{cookie}<revisionIDs><int>100009</int><int>1000</int><int>7</int></revisionIDs><infoTypes><XmlUpdateFragmentType>Extended</XmlUpdateFragmentType><XmlUpdateFragmentType>LocalizedProperties</XmlUpdateFragmentType><XmlUpdateFragmentType>FileUrl</XmlUpdateFragmentType></infoTypes>")),
        env(0, NS_CLIENT, "GetFileLocations", &format!("{cookie}<fileDigests><base64Binary>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</base64Binary></fileDigests>")),
        env(0, NS_CLIENT, "RefreshCache", &format!("{cookie}<globalIDs><UpdateIdentity><UpdateID>0fa1201d-4330-4fa8-8ae9-b877473b6441</UpdateID><RevisionNumber>200</RevisionNumber></UpdateIdentity></globalIDs>")),
        env(2, NS_REPORTING, "ReportEventBatch", &format!("{cookie}<clientTime>2020-01-01T00:00:00Z</clientTime><eventBatch><ReportingEvent><BasicData><EventID>183</EventID><UpdateID><UpdateID>0fa1201d-4330-4fa8-8ae9-b877473b6441</UpdateID><RevisionNumber>1</RevisionNumber></UpdateID><Win32HResult>0</Win32HResult></BasicData></ReportingEvent></eventBatch>")),
        env(2, NS_REPORTING, "ReportEventBatch2", "<computerId>hv01</computerId><eventBatch></eventBatch>"),
        env(3, NS_ADMIN, "ExecuteSPCreateTargetGroup1", "<name>g</name><parentGroupId>a0a08746-4dbe-4a37-9adf-9e7652c0b421</parentGroupId>"),
        env(3, NS_ADMIN, "ExecuteSPSimpleSearchUpdates", "<searchText>KB</searchText>"),
        env(3, NS_ADMIN, "ExecuteSPDeployUpdate1", "<updateId><UpdateId>0fa1201d-4330-4fa8-8ae9-b877473b6441</UpdateId><RevisionNumber>1</RevisionNumber></updateId><deploymentAction>0</deploymentAction><targetGroupId>a0a08746-4dbe-4a37-9adf-9e7652c0b421</targetGroupId>"),
        env(3, NS_ADMIN, "ExecuteSPGetAllComputers", ""),
        b"\x00<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&a;</s:Body></s:Envelope>".to_vec(),
        b"\x00/Content/AB/ABABABABABABABABABABABABABABABABABABABAB.cab".to_vec(),
        vec![],
    ]
}

#[test]
fn wsus_request() {
    let dict: &[&[u8]] = &[
        b"<int>100009</int>",
        b"<int>1000</int>",
        b"<SkipSoftwareSync>true</SkipSoftwareSync>",
        b"<XmlUpdateFragmentType>Core</XmlUpdateFragmentType>",
        b"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService",
        b"<!DOCTYPE",
        b"&amp;",
        b"<![CDATA[",
    ];
    let ran = run(
        &smoke("wsus/request", wsus_seeds(), 2000, dict),
        wsus_fuzz::request,
    );
    eprintln!("wsus/request: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// iControl REST requests: reads, creations (with inline members),
/// modifications, deletions, stats, ids with path tricks, broken JSON, and
/// a sequence of several (`lb/request`).
fn lb_seeds() -> Vec<Vec<u8>> {
    let req = |m: u8, path: &str, query: &str, body: &str| {
        let mut v = vec![m];
        v.extend_from_slice(format!("{path}\n{query}\n{body}").as_bytes());
        v
    };
    let seq = |parts: &[Vec<u8>]| parts.join(&0xffu8);
    vec![
        req(0, "/mgmt/tm/ltm/pool", "$select=name,monitor&$top=1", ""),
        req(
            0,
            "/mgmt/tm/ltm/pool/~Common~p",
            "expandSubcollections=true",
            "",
        ),
        req(
            0,
            "/mgmt/tm/ltm/pool/~Common~p/members/~Common~127.0.0.21:80/stats",
            "",
            "",
        ),
        req(0, "/mgmt/tm/ltm/pool/~Common~p/members/stats", "", ""),
        req(0, "/mgmt/tm/ltm/virtual/~Common~v/stats", "", ""),
        req(0, "/mgmt/tm/sys/version", "", ""),
        req(
            1,
            "/mgmt/tm/ltm/pool",
            "",
            r#"{"name":"q","loadBalancingMode":"least-connections-member","members":[{"name":"127.0.0.23:8080","address":"127.0.0.23"}]}"#,
        ),
        req(
            1,
            "/mgmt/tm/ltm/node",
            "",
            r#"{"name":"n1","address":"127.0.0.30"}"#,
        ),
        req(
            1,
            "/mgmt/tm/ltm/virtual",
            "",
            r#"{"name":"v2","destination":"127.0.0.42:443","pool":"p","disabled":true}"#,
        ),
        req(
            2,
            "/mgmt/tm/ltm/pool/~Common~p",
            "",
            r#"{"monitor":"/Common/tcp and /Common/m"}"#,
        ),
        req(
            3,
            "/mgmt/tm/ltm/pool/~Common~p/members/~Common~127.0.0.21:80",
            "",
            r#"{"session":"user-disabled","state":"user-down"}"#,
        ),
        req(4, "/mgmt/tm/ltm/virtual/~Common~v", "", ""),
        req(0, "/mgmt/tm/ltm/pool/~Common~..%2f..", "", ""),
        req(
            1,
            "/mgmt/tm/ltm/pool",
            "",
            r#"{"name":"../x","partition":"Other"}"#,
        ),
        req(
            1,
            "/mgmt/tm/ltm/pool",
            "",
            r#"{"name":"x","description":[[[[[[[[[[[]]]]]]]]]]]}"#,
        ),
        req(
            1,
            "/mgmt/tm/ltm/monitor/https",
            "",
            r#"{"name":"h","send":"GET /\\r\\n","interval":0}"#,
        ),
        seq(&[
            req(4, "/mgmt/tm/ltm/virtual/~Common~v", "", ""),
            req(4, "/mgmt/tm/ltm/pool/~Common~p", "", ""),
            req(4, "/mgmt/tm/ltm/monitor/http/~Common~m", "", ""),
            req(4, "/mgmt/tm/ltm/node/~Common~127.0.0.21", "", ""),
        ]),
        // A transaction: open, queue (method byte | 0x80), reorder, commit.
        seq(&[
            req(1, "/mgmt/tm/transaction", "", "{}"),
            req(
                0x81,
                "/mgmt/tm/ltm/pool",
                "",
                r#"{"name":"tp","members":["127.0.0.25:80"]}"#,
            ),
            req(
                0x81,
                "/mgmt/tm/ltm/virtual",
                "",
                r#"{"name":"tv","destination":"/Common/127.0.0.42:81","pool":"/Common/tp"}"#,
            ),
            req(0x84, "/mgmt/tm/ltm/pool/~Common~p", "", ""),
            req(0, "/mgmt/tm/transaction/{tx}/commands", "", ""),
            req(
                3,
                "/mgmt/tm/transaction/{tx}/commands/2",
                "",
                r#"{"evalOrder":1}"#,
            ),
            req(
                3,
                "/mgmt/tm/transaction/{tx}",
                "",
                r#"{"state":"VALIDATING"}"#,
            ),
        ]),
        vec![],
    ]
}

#[test]
fn lb_request() {
    let dict: &[&[u8]] = &[
        b"~Common~",
        b"/members",
        b"/stats",
        b"\"name\":",
        b"\"destination\":\"/Common/127.0.0.42:81\"",
        b"\"monitor\":\"/Common/http\"",
        b"%2f",
        b"..",
        b"\xff",
        b"/mgmt/tm/transaction",
        b"\"state\":\"VALIDATING\"",
        b"\"validateOnly\":true",
    ];
    let ran = run(
        &smoke("lb/request", lb_seeds(), 250, dict),
        lb_fuzz::request,
    );
    eprintln!("lb/request: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// iRules: the subset's statements and values, nested ifs, substitutions,
/// comments and continuations, refusals (unknown and unbuilt commands,
/// wrong scope, missing pool, broken braces), then a request head
/// (`lb/rule`).
fn lb_rule_seeds() -> Vec<Vec<u8>> {
    let head = b"GET /old/x?a=1 HTTP/1.1\r\nHost: vip\r\nUser-Agent: curl/8\r\nCookie: a=b\r\n\r\n";
    let with = |text: &str| {
        let mut v = text.as_bytes().to_vec();
        v.push(0xff);
        v.extend_from_slice(head);
        v
    };
    vec![
        with("# steer\nwhen HTTP_REQUEST {\n  if { [HTTP::uri] starts_with \"/old\" } {\n    HTTP::redirect \"https://[HTTP::host][HTTP::path]\"\n  } elseif { [HTTP::header exists Cookie] and not ([HTTP::method] eq \"POST\") } {\n    pool p\n    HTTP::header insert X-A [string tolower [HTTP::header value User-Agent]]\n  } else {\n    HTTP::respond 403 content \"no ${x}\" Content-Type text/plain\n  }\n}"),
        with("when HTTP_REQUEST priority 10 {\n set u [HTTP::query]; set n [string length $u]\n if {$n > 3 || $n == 0} { HTTP::uri \"/new?$u\" ; return }\n HTTP::header replace Host backend\n HTTP::header remove Cookie\n log local0. \"len $n\"\n}"),
        with("when CLIENT_ACCEPTED {\n  if { [IP::client_addr] eq \"127.0.0.1\" } { reject } else { pool /Common/p }\n}\nwhen HTTP_REQUEST { drop }"),
        with("when HTTP_REQUEST {\n switch [HTTP::uri] { /a { pool p } }\n}"),
        with("when CLIENT_ACCEPTED { HTTP::redirect /x }"),
        with("when HTTP_REQUEST { pool missing_pool }"),
        with("when HTTP_REQUEST { if {1} { pool p }"),
        with("when HTTP_REQUEST { HTTP::respond 200 content \"a\\r\\nX: y\" \"X-B\" \"c\\nd\" }"),
        with("when HTTP_REQUEST { HTTP::header insert \"Bad Name\" v ; HTTP::uri \"a b\" }"),
        with(&format!("when HTTP_REQUEST {{ if {{ {}1{} }} {{ drop }} }}", "(".repeat(40), ")".repeat(40))),
        with("when HTTP_REQUEST { pool p }")
            .into_iter()
            .take_while(|b| *b != 0xff)
            .chain(*b"\xffHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nServer: Microsoft-IIS/10.0\r\n\r\n")
            .collect(),
        b"\xffHTTP/1.0 304 Not Modified\r\nX: \r\n:empty\r\n\r\n".to_vec(),
        b"when SERVER_CONNECTED { }".to_vec(),
        vec![],
    ]
}

#[test]
fn lb_rule() {
    let dict: &[&[u8]] = &[
        b"when HTTP_REQUEST {",
        b"when CLIENT_ACCEPTED {",
        b"[HTTP::uri]",
        b"[HTTP::header value Host]",
        b" starts_with ",
        b"HTTP::redirect ",
        b"HTTP::respond 200 content ",
        b"pool p",
        b"\\\n",
        b"${",
        b"\xff",
    ];
    let ran = run(&smoke("lb/rule", lb_rule_seeds(), 400, dict), lb_fuzz::rule);
    eprintln!("lb/rule: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// CIM-XML requests as pywbem sends them: a pull enumeration, the classic
/// ones, an association walk, GetClass, each extrinsic method (create,
/// expose, hide, return), and a request-level failure (`smis/request`).
fn smis_seeds() -> Vec<Vec<u8>> {
    let ns = r#"<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>"#;
    let im = |name: &str, params: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="{name}">{ns}{params}</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#
        )
    };
    let class =
        |c: &str| format!(r#"<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="{c}"/></IPARAMVALUE>"#);
    let sys = r#"<INSTANCENAME CLASSNAME="CIM_ComputerSystem"><KEYBINDING NAME="CreationClassName"><KEYVALUE VALUETYPE="string">CIM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">FA0000000001</KEYVALUE></KEYBINDING></INSTANCENAME>"#;
    let svc = |c: &str, n: &str| {
        format!(
            r#"<INSTANCENAME CLASSNAME="{c}"><KEYBINDING NAME="SystemCreationClassName"><KEYVALUE>CIM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME="SystemName"><KEYVALUE>FA0000000001</KEYVALUE></KEYBINDING><KEYBINDING NAME="CreationClassName"><KEYVALUE>{c}</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE>{n}</KEYVALUE></KEYBINDING></INSTANCENAME>"#
        )
    };
    let method = |target: String, name: &str, params: &str| {
        format!(
            r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="7" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="{name}"><LOCALINSTANCEPATH>{ns}{target}</LOCALINSTANCEPATH>{params}</METHODCALL></SIMPLEREQ></MESSAGE></CIM>"#
        )
    };
    let pool = r#"<VALUE.REFERENCE><INSTANCENAME CLASSNAME="CIM_StoragePool"><KEYBINDING NAME="InstanceID"><KEYVALUE>FA0000000001+P-1</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE>"#;
    let scs = svc(
        "CIM_StorageConfigurationService",
        "StorageConfigurationService",
    );
    let ccs = svc(
        "CIM_ControllerConfigurationService",
        "ControllerConfigurationService",
    );
    let paths = r#"<PARAMVALUE NAME="LUNames"><VALUE.ARRAY><VALUE>10001</VALUE></VALUE.ARRAY></PARAMVALUE><PARAMVALUE NAME="InitiatorPortIDs"><VALUE.ARRAY><VALUE>iqn.1991-05.com.microsoft:hv02.lab.test</VALUE></VALUE.ARRAY></PARAMVALUE>"#;
    vec![
        im("OpenEnumerateInstances", &class("CIM_RegisteredProfile")).replace("cimv2", "interop"),
        im("EnumerateInstances", &class("CIM_StorageVolume")),
        im("EnumerateInstanceNames", &class("CIM_ManagedElement")),
        im("EnumerateClassNames", r#"<IPARAMVALUE NAME="DeepInheritance"><VALUE>TRUE</VALUE></IPARAMVALUE>"#),
        im("GetClass", &class("CIM_StoragePool")),
        im("GetInstance", &format!(r#"<IPARAMVALUE NAME="InstanceName">{sys}</IPARAMVALUE><IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY><VALUE>Name</VALUE></VALUE.ARRAY></IPARAMVALUE>"#)),
        im("Associators", &format!(r#"<IPARAMVALUE NAME="ObjectName">{sys}</IPARAMVALUE><IPARAMVALUE NAME="AssocClass"><CLASSNAME NAME="CIM_HostedStoragePool"/></IPARAMVALUE>"#)),
        im("ReferenceNames", &format!(r#"<IPARAMVALUE NAME="ObjectName">{sys}</IPARAMVALUE>"#)),
        method(scs.clone(), "CreateOrModifyElementFromStoragePool", &format!(r#"<PARAMVALUE NAME="ElementName"><VALUE>v</VALUE></PARAMVALUE><PARAMVALUE NAME="ElementType"><VALUE>2</VALUE></PARAMVALUE><PARAMVALUE NAME="Size"><VALUE>1073741824</VALUE></PARAMVALUE><PARAMVALUE NAME="InPool">{pool}</PARAMVALUE>"#)),
        method(scs, "ReturnToStoragePool", r#"<PARAMVALUE NAME="TheElement"><VALUE.REFERENCE><INSTANCENAME CLASSNAME="CIM_StorageVolume"><KEYBINDING NAME="DeviceID"><KEYVALUE>10001</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE></PARAMVALUE>"#),
        method(ccs.clone(), "ExposePaths", paths),
        method(ccs, "HidePaths", paths),
        "<CIM><MESSAGE ID=\"1\"><MULTIREQ/></MESSAGE></CIM>".to_string(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

#[test]
fn smis_request() {
    let dict: &[&[u8]] = &[
        b"<VALUE.REFERENCE>",
        b"<INSTANCENAME CLASSNAME=\"CIM_StorageVolume\">",
        b"<KEYBINDING NAME=\"DeviceID\">",
        b"<VALUE.ARRAY>",
        b"IMETHODCALL",
        b"<!DOCTYPE",
        b"&amp;",
        b"4294967296000",
    ];
    let ran = run(
        &smoke("smis/request", smis_seeds(), 3000, dict),
        smis_fuzz::request,
    );
    eprintln!("smis/request: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// pypsrp's opening (SESSION_CAPABILITY + INIT_RUNSPACEPOOL as
/// `creationXml`) and a CREATE_PIPELINE with input, cut into small
/// fragments, behind the two-byte split the body reads (`psrp/decode`).
fn psrp_seeds() -> Vec<Vec<u8>> {
    use fakedc_psrp::fragment::fragment;
    use fakedc_psrp::message::{types, Message, TO_SERVER};
    use fakedc_psrp::Guid;
    let rpid = Guid([0x11; 16]);
    let pid = Guid([0x22; 16]);
    let stream = |msgs: &[(u32, Guid, &str)], first: u64| {
        let mut out = Vec::new();
        for (i, (ty, p, body)) in msgs.iter().enumerate() {
            let mut m = Message::new(*ty, rpid, *p, body.to_string());
            m.destination = TO_SERVER;
            for f in fragment(first + i as u64, &m.encode(), 96) {
                f.encode(&mut out);
            }
        }
        out
    };
    let creation = stream(
        &[
            (
                types::SESSION_CAPABILITY,
                Guid::NIL,
                r#"<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>"#,
            ),
            (
                types::INIT_RUNSPACEPOOL,
                Guid::NIL,
                r#"<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32><Obj RefId="1" N="PSThreadOptions"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T></TN><ToString>Default</ToString><I32>0</I32></Obj><Nil N="ApplicationArguments" /></MS></Obj>"#,
            ),
        ],
        1,
    );
    let pipeline = stream(
        &[
            (
                types::CREATE_PIPELINE,
                pid,
                r#"<Obj RefId="0"><MS><B N="NoInput">false</B><Obj RefId="4" N="PowerShell"><MS><Obj RefId="5" N="Cmds"><TN RefId="2"><T>System.Collections.Generic.List`1</T></TN><LST><Obj RefId="8"><MS><S N="Cmd">Get-VM</S><B N="IsScript">false</B><Obj RefId="12" N="Args"><TNRef RefId="2" /><LST><Obj RefId="13"><MS><S N="N">Name</S><S N="V">web_x000A_01</S></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>"#,
            ),
            (
                types::PIPELINE_INPUT,
                pid,
                r#"<Obj RefId="0"><DCT><En><S N="Key">a</S><Ref N="Value" RefId="0" /></En></DCT></Obj>"#,
            ),
            (types::PIPELINE_INPUT, pid, "<S>x</S>"),
            (types::END_OF_PIPELINE_INPUT, pid, ""),
            (
                types::GET_AVAILABLE_RUNSPACES,
                Guid::NIL,
                r#"<Obj RefId="0"><MS><I64 N="ci">1</I64></MS></Obj>"#,
            ),
        ],
        3,
    );
    let with_cut = |c: &[u8], p: &[u8]| {
        let mut v = (c.len() as u16).to_le_bytes().to_vec();
        v.extend_from_slice(c);
        v.extend_from_slice(p);
        v
    };
    vec![
        with_cut(&creation, &pipeline),
        with_cut(&creation, &[]),
        pipeline.clone(),
        br#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><ToString>_x0041_</ToString><Props><Db N="d">INF</Db><BA N="b">AAE=</BA></Props><MS><Obj N="o" RefId="1"><TNRef RefId="0" /><LST><Ref RefId="0" /></LST></Obj></MS></Obj>"#.to_vec(),
    ]
}

#[test]
fn psrp_decode() {
    let dict: &[&[u8]] = &[
        b"<Obj RefId=\"0\">",
        b"<Ref RefId=\"0\" />",
        b"<TNRef RefId=\"0\" />",
        b"_x000D_",
        b"<LST>",
        b"<DCT><En>",
        &[0x03, 0x00, 0x00, 0x00],
        &[0x02, 0x00, 0x00, 0x00, 0x06, 0x10, 0x02, 0x00],
        &[0xFF, 0xFF, 0xFF, 0xFF],
    ];
    let ran = run(
        &smoke("psrp/decode", psrp_seeds(), 3000, dict),
        psrp_fuzz::decode,
    );
    eprintln!("psrp/decode: {} inputs in {:?}", ran.inputs, ran.elapsed);
}

/// PowerShell scripts across the grammar and the evaluator: statements and
/// pipelines, every loop, functions with param blocks, try/catch/finally,
/// switch, hashtables, here-strings, splatting, casts and .NET members,
/// string expansion and -f, cmdlets, a parse error, a budget-eating loop,
/// deep recursion, and the copy/fetch scripts pypsrp sends.
fn pwsh_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        "$x = 1 + 2 * 3; $x",
        "if ($PSVersionTable.PSVersion -lt [Version]\"5.1\") { 'old'; exit 1 } elseif ($true) { 'new' } else { 'x' }",
        "for ($i = 0; $i -lt 10; $i++) { $s += \"$i,\" }; $s.Length",
        "foreach ($n in 1..5) { if ($n % 2) { continue }; $n }; while ($true) { break }; do { $k++ } until ($k -ge 3)",
        "function Add { param([int]$a, [int]$b = 2) $a + $b }; Add -a 3; Add 4 5",
        "try { throw 'boom' } catch [System.Exception] { \"caught $($_.Exception.Message)\" } finally { 'done' }",
        "switch -Wildcard ('abc', 'xyz') { 'a*' { 'A' } default { 'other' } }",
        "$h = @{ Name = 'vm1'; Mem = 4GB }; $h.Keys | Sort-Object; [pscustomobject]$h | ConvertTo-Json -Compress",
        "$t = @'\nline one\n'@; \"{0,-5}|{1:N2}\" -f 'ab', 3.14159; $t.Split(\"`n\").Count",
        "$p = @{ Name = 'x'; ErrorAction = 'SilentlyContinue' }; Get-Service @p; $?",
        "[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('hi')); [int]'0x1F'; [datetime]'2020-01-02'",
        "1..20 | Where-Object { $_ -gt 5 } | ForEach-Object { $_ * 2 } | Measure-Object -Sum | Select-Object -ExpandProperty Sum",
        "'a,b;c' -split '[,;]' -join '|'; 'Hello' -replace 'l+', 'L' -match '^H'; $Matches[0]",
        "Get-VM | Where-Object State -eq 'Running' | Select-Object -ExpandProperty Name",
        "Write-Warning 'w'; Write-Error 'e'; Write-Verbose 'v' -Verbose; Write-Host 'h' -NoNewline",
        "function f($n) { if ($n -le 0) { 0 } else { f ($n - 1) } }; f 1000",
        "while ($true) { $a += 'xxxxxxxx' }",
        "if ($x { 'unclosed'",
        "Add-Type -TypeDefinition 'class A {}'; 'after'",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for f in ["copy.ps1", "fetch.ps1"] {
        let p = crates_dir().join("pwsh/tests/data").join(f);
        seeds.push(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
    }
    seeds
}

#[test]
fn pwsh_script() {
    let dict: &[&[u8]] = &[
        b"$_",
        b"$(",
        b"@(",
        b"@{",
        b"{ ",
        b" }",
        b" | ",
        b"; ",
        b" -eq ",
        b" -like ",
        b"foreach ($i in ",
        b"function f ",
        b"param(",
        b"[int]",
        b"[string]::",
        b"\"$x\"",
        b"`n",
        b"@'\n",
        b"\n'@",
        b"ForEach-Object ",
    ];
    // The evaluator is slow to set up per input (a runspace, a thread):
    // few mutations here; scripts/fuzz explores further.
    let ran = run(
        &smoke("pwsh/script", pwsh_seeds(), 100, dict),
        pwsh_fuzz::script,
    );
    eprintln!("pwsh/script: {} inputs in {:?}", ran.inputs, ran.elapsed);
}
