//! The SFTP server driven packet by packet, without sockets: uploads under
//! their own name (and, opted in, staging and publication by rename), quota,
//! escapes, extensions.

use super::*;
use crate::vfs::Layout;
use fakedc_model::Model;
use fakedc_model::Quota;
use russh_sftp::protocol::{
    Close, Extended, Init, Lstat, MkDir, Open, OpenDir, ReadDir, ReadLink, RealPath, Remove,
    Rename, Stat, Symlink, Write,
};

const SCENARIO: &str = r#"
[[machine]]
name = "esx01"
role = "esx-host"
address = "127.0.0.1"
"#;

struct Fixture {
    root: PathBuf,
    outside: PathBuf,
    model: Arc<Model>,
    jail: Arc<Jail>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.root.parent().unwrap_or(&self.root));
    }
}

fn fixture(name: &str, quota: Option<u64>) -> Fixture {
    let base = std::env::temp_dir().join(format!("fakedc-sftp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("share");
    let outside = base.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret"), b"do not read").expect("write");
    let scenario = fakedc_scenario::Scenario::parse(
        "test",
        SCENARIO,
        &fakedc_scenario::ParseOptions::default(),
    )
    .expect("scenario");
    let model = Arc::new(scenario.model());
    let jail = Arc::new(
        Jail::open(
            &root,
            Layout::datastore("datastore1"),
            Arc::new(Quota::new(quota)),
        )
        .expect("jail"),
    );
    Fixture {
        root,
        outside,
        model,
        jail,
    }
}

fn server(f: &Fixture) -> SftpServer {
    server_with(f, false)
}

/// A session with the scenario's `atomic_uploads`.
fn atomic_server(f: &Fixture) -> SftpServer {
    server_with(f, true)
}

fn server_with(f: &Fixture, atomic: bool) -> SftpServer {
    let audit = Audit {
        model: f.model.clone(),
        machine: "esx01".into(),
        service: "sftp",
        peer: None,
        user: Some("root".into()),
    };
    let mut s = SftpServer::new(audit, f.jail.clone()).atomic_uploads(atomic);
    call(
        &mut s,
        Packet::Init(Init {
            version: 3,
            extensions: Default::default(),
        }),
    );
    s
}

fn call(s: &mut SftpServer, p: Packet) -> Packet {
    let mut b = Bytes::try_from(p).expect("encode");
    let _len = b.split_to(4);
    s.handle_packet(b)
}

fn status(p: &Packet) -> StatusCode {
    match p {
        Packet::Status(s) => s.status_code,
        other => panic!("expected a status, got {other:?}"),
    }
}

fn open(s: &mut SftpServer, path: &str, flags: OpenFlags) -> Result<String, StatusCode> {
    match call(
        s,
        Packet::Open(Open {
            id: 1,
            filename: path.into(),
            pflags: flags,
            attrs: FileAttributes::default(),
        }),
    ) {
        Packet::Handle(h) => Ok(h.handle),
        other => Err(status(&other)),
    }
}

fn write(s: &mut SftpServer, h: &str, offset: u64, data: &[u8]) -> StatusCode {
    status(&call(
        s,
        Packet::Write(Write {
            id: 2,
            handle: h.into(),
            offset,
            data: data.to_vec(),
        }),
    ))
}

fn close(s: &mut SftpServer, h: &str) -> StatusCode {
    status(&call(
        s,
        Packet::Close(Close {
            id: 3,
            handle: h.into(),
        }),
    ))
}

fn names(s: &mut SftpServer, path: &str) -> Vec<String> {
    let h = match call(
        s,
        Packet::OpenDir(OpenDir {
            id: 4,
            path: path.into(),
        }),
    ) {
        Packet::Handle(h) => h.handle,
        other => panic!("opendir {path}: {other:?}"),
    };
    let mut out = Vec::new();
    loop {
        match call(
            s,
            Packet::ReadDir(ReadDir {
                id: 5,
                handle: h.clone(),
            }),
        ) {
            Packet::Name(n) => out.extend(n.files.into_iter().map(|f| f.filename)),
            other => {
                assert_eq!(status(&other), StatusCode::Eof);
                break;
            }
        }
    }
    close(s, &h);
    out.retain(|n| n != "." && n != "..");
    out.sort();
    out
}

fn upload_flags() -> OpenFlags {
    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
}

fn stat_of(s: &mut SftpServer, path: &str) -> Result<FileAttributes, StatusCode> {
    match call(
        s,
        Packet::Stat(Stat {
            id: 8,
            path: path.into(),
        }),
    ) {
        Packet::Attrs(a) => Ok(a.attrs),
        other => Err(status(&other)),
    }
}

fn read(s: &mut SftpServer, h: &str, offset: u64, len: u32) -> Result<Vec<u8>, StatusCode> {
    match call(
        s,
        Packet::Read(russh_sftp::protocol::Read {
            id: 9,
            handle: h.into(),
            offset,
            len,
        }),
    ) {
        Packet::Data(d) => Ok(d.data),
        other => Err(status(&other)),
    }
}

/// As OpenSSH's sftp-server: the name exists from OPEN, and a stat or a
/// second open (this session or another) sees what was written so far.
#[test]
fn upload_is_visible_under_its_name_while_written() {
    let f = fixture("direct", None);
    let mut s = server(&f);
    let mut other = server(&f);
    let h = open(&mut s, "vm.vmdk", upload_flags()).expect("open");
    assert_eq!(names(&mut other, "."), vec!["vm.vmdk"], "listed at OPEN");
    assert_eq!(stat_of(&mut other, "vm.vmdk").map(|a| a.size), Ok(Some(0)));
    assert_eq!(write(&mut s, &h, 0, b"hello "), StatusCode::Ok);
    assert_eq!(stat_of(&mut other, "vm.vmdk").map(|a| a.size), Ok(Some(6)));
    let r = open(&mut other, "vm.vmdk", OpenFlags::READ).expect("reopen mid-write");
    assert_eq!(read(&mut other, &r, 0, 100).as_deref(), Ok(&b"hello "[..]));
    assert_eq!(write(&mut s, &h, 6, b"world"), StatusCode::Ok);
    assert_eq!(read(&mut other, &r, 6, 100).as_deref(), Ok(&b"world"[..]));
    assert_eq!(close(&mut other, &r), StatusCode::Ok);
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    assert_eq!(
        std::fs::read(f.root.join("vm.vmdk")).expect("read"),
        b"hello world"
    );
    // TRUNC empties an existing file at OPEN, and gives its bytes back.
    let h = open(&mut s, "vm.vmdk", upload_flags()).expect("open");
    assert_eq!(
        std::fs::metadata(f.root.join("vm.vmdk")).expect("md").len(),
        0
    );
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    // EXCL refuses an existing name.
    assert_eq!(
        open(&mut s, "vm.vmdk", upload_flags() | OpenFlags::EXCLUDE),
        Err(StatusCode::Failure)
    );
    let j = f.model.journal.query(&fakedc_model::Query::default());
    assert!(j
        .iter()
        .any(|e| e.operation == "write /vmfs/volumes/datastore1/vm.vmdk"
            && e.outcome == "ok: 11 bytes"));
}

/// A dropped session leaves what was written, as sftp-server does, and
/// journals the upload as incomplete.
#[test]
fn aborted_upload_stays_as_written() {
    let f = fixture("abort-direct", None);
    {
        let mut s = server(&f);
        let h = open(&mut s, "disk.tmp", upload_flags()).expect("open");
        assert_eq!(write(&mut s, &h, 0, &[7u8; 1000]), StatusCode::Ok);
    }
    assert_eq!(
        std::fs::read(f.root.join("disk.tmp")).expect("read"),
        vec![7u8; 1000]
    );
    let j = f.model.journal.query(&fakedc_model::Query::default());
    assert!(j
        .iter()
        .any(|e| e.operation.contains("disk.tmp") && e.outcome.starts_with("incomplete")));
}

/// The quota refuses a write beyond it (a full datastore); what fitted
/// stays, and the space counts it.
#[test]
fn quota_failure_keeps_what_was_written() {
    let f = fixture("quota-direct", Some(10_000));
    std::fs::write(f.root.join("old"), vec![1u8; 4000]).expect("seed");
    let mut s = server(&f);
    let h = open(&mut s, "big.tmp", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, &[0u8; 5000]), StatusCode::Ok);
    assert_eq!(write(&mut s, &h, 5000, &[0u8; 5000]), StatusCode::Failure);
    assert_eq!(write(&mut s, &h, 5000, &[0u8; 10]), StatusCode::Failure);
    assert_eq!(close(&mut s, &h), StatusCode::Failure);
    assert_eq!(
        std::fs::metadata(f.root.join("big.tmp")).expect("md").len(),
        5000
    );
    let h = open(&mut s, "more", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, &[0u8; 1001]), StatusCode::Failure);
    assert_eq!(close(&mut s, &h), StatusCode::Failure);
    // Removing the partial file gives its bytes back.
    let r = call(
        &mut s,
        Packet::Remove(Remove {
            id: 1,
            filename: "big.tmp".into(),
        }),
    );
    assert_eq!(status(&r), StatusCode::Ok);
    let h = open(&mut s, "more", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, &[0u8; 6000]), StatusCode::Ok);
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
}

#[test]
fn atomic_upload_appears_only_at_close() {
    let f = fixture("stage", None);
    let mut s = atomic_server(&f);
    let h = open(&mut s, "vm.vmdk", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, b"hello "), StatusCode::Ok);
    assert_eq!(write(&mut s, &h, 6, b"world"), StatusCode::Ok);
    assert!(
        !f.root.join("vm.vmdk").exists(),
        "a partial upload is visible under its final name"
    );
    assert!(names(&mut s, ".").is_empty(), "staging file listed");
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    assert_eq!(
        std::fs::read(f.root.join("vm.vmdk")).expect("read"),
        b"hello world"
    );
    assert_eq!(names(&mut s, "/vmfs/volumes/datastore1"), vec!["vm.vmdk"]);
    let entries: Vec<_> = std::fs::read_dir(&f.root).expect("ls").collect();
    assert_eq!(entries.len(), 1, "staging file left behind");
}

#[test]
fn atomic_aborted_upload_leaves_nothing() {
    let f = fixture("abort", None);
    {
        let mut s = atomic_server(&f);
        let h = open(&mut s, "disk.tmp", upload_flags()).expect("open");
        assert_eq!(write(&mut s, &h, 0, &[7u8; 1000]), StatusCode::Ok);
        // The connection drops here: the session ends without a close.
    }
    assert_eq!(std::fs::read_dir(&f.root).expect("ls").count(), 0);
    let j = f.model.journal.query(&fakedc_model::Query::default());
    assert!(j
        .iter()
        .any(|e| e.operation.contains("disk.tmp") && e.outcome.starts_with("aborted")));
}

#[test]
fn atomic_quota_failure_discards_the_upload() {
    let f = fixture("quota", Some(10_000));
    std::fs::write(f.root.join("old"), vec![1u8; 4000]).expect("seed");
    let mut s = atomic_server(&f);
    let h = open(&mut s, "big.tmp", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, &[0u8; 5000]), StatusCode::Ok);
    assert_eq!(
        write(&mut s, &h, 5000, &[0u8; 5000]),
        StatusCode::Failure,
        "a write beyond the quota must fail"
    );
    assert_eq!(write(&mut s, &h, 5000, &[0u8; 10]), StatusCode::Failure);
    assert_eq!(close(&mut s, &h), StatusCode::Failure);
    assert!(!f.root.join("big.tmp").exists());
    assert_eq!(std::fs::read_dir(&f.root).expect("ls").count(), 1);
    // The space is back: a file that fits goes through.
    let h = open(&mut s, "small", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, &[0u8; 6000]), StatusCode::Ok);
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    // statvfs reports the quota.
    let mut data = Vec::new();
    data.extend_from_slice(&1u32.to_be_bytes());
    data.push(b'.');
    match call(
        &mut s,
        Packet::Extended(Extended {
            id: 9,
            request: "statvfs@openssh.com".into(),
            data,
        }),
    ) {
        Packet::ExtendedReply(r) => {
            assert_eq!(r.data.len(), 88);
            let blocks = u64::from_be_bytes(r.data[16..24].try_into().expect("8"));
            assert_eq!(blocks, 10_000 / 4096);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn escapes_are_refused() {
    let f = fixture("escape", None);
    let mut s = server(&f);
    for p in [
        "../../etc/passwd",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "../../outside/secret",
    ] {
        assert_eq!(
            open(&mut s, p, OpenFlags::READ),
            Err(StatusCode::NoSuchFile),
            "{p}"
        );
    }
    assert_eq!(
        open(&mut s, "/tmp/evil", upload_flags()),
        Err(StatusCode::PermissionDenied)
    );
    assert_eq!(
        open(&mut s, "/vmfs/volumes/evil", upload_flags()),
        Err(StatusCode::PermissionDenied)
    );
    assert_eq!(
        open(&mut s, "a\0b", upload_flags()),
        Err(StatusCode::Failure),
        "NUL in a name"
    );
    assert_eq!(
        open(&mut s, ".fakedc-partial-x", OpenFlags::READ),
        Err(StatusCode::PermissionDenied)
    );
    // A symlink to "/" (or any target outside the datastore) is refused.
    for target in ["/", "/etc", "../../../../etc", "/vmfs/volumes"] {
        let r = call(
            &mut s,
            Packet::Symlink(Symlink {
                id: 6,
                linkpath: target.into(),
                targetpath: "link".into(),
            }),
        );
        assert_eq!(status(&r), StatusCode::PermissionDenied, "{target}");
    }
    // A symlink planted in the share by someone else is not followed out.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&f.outside, f.root.join("planted")).expect("symlink");
        std::os::unix::fs::symlink("/", f.root.join("root")).expect("symlink");
    }
    for p in ["planted/secret", "root/etc/passwd"] {
        assert!(open(&mut s, p, OpenFlags::READ).is_err(), "{p} opened");
        assert!(
            open(&mut s, &format!("{p}.new"), upload_flags()).is_err(),
            "{p} written"
        );
    }
    assert!(
        !matches!(
            call(
                &mut s,
                Packet::OpenDir(OpenDir {
                    id: 7,
                    path: "root".into()
                })
            ),
            Packet::Handle(_)
        ),
        "listed / through a symlink"
    );
    assert_eq!(
        std::fs::read(f.outside.join("secret")).expect("read"),
        b"do not read"
    );
    assert_eq!(std::fs::read_dir(&f.outside).expect("ls").count(), 1);
}

#[test]
fn namespace_operations() {
    let f = fixture("ns", None);
    let mut s = server(&f);
    match call(
        &mut s,
        Packet::RealPath(RealPath {
            id: 1,
            path: ".".into(),
        }),
    ) {
        Packet::Name(n) => assert_eq!(n.files[0].filename, "/vmfs/volumes/datastore1"),
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&mut s, "/"), vec!["vmfs"]);
    assert_eq!(names(&mut s, "/vmfs/volumes"), vec!["datastore1"]);
    let r = call(
        &mut s,
        Packet::MkDir(MkDir {
            id: 1,
            path: "vm1".into(),
            attrs: FileAttributes::default(),
        }),
    );
    assert_eq!(status(&r), StatusCode::Ok);
    let h = open(&mut s, "vm1/a", upload_flags()).expect("open");
    assert_eq!(write(&mut s, &h, 0, b"x"), StatusCode::Ok);
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    // Plain RENAME refuses to replace; posix-rename replaces.
    let h = open(&mut s, "vm1/b", upload_flags()).expect("open");
    assert_eq!(close(&mut s, &h), StatusCode::Ok);
    let r = call(
        &mut s,
        Packet::Rename(Rename {
            id: 1,
            oldpath: "vm1/a".into(),
            newpath: "vm1/b".into(),
        }),
    );
    assert_eq!(status(&r), StatusCode::Failure);
    let mut data = Vec::new();
    for p in ["vm1/a", "vm1/b"] {
        data.extend_from_slice(&(p.len() as u32).to_be_bytes());
        data.extend_from_slice(p.as_bytes());
    }
    let r = call(
        &mut s,
        Packet::Extended(Extended {
            id: 1,
            request: "posix-rename@openssh.com".into(),
            data,
        }),
    );
    assert_eq!(status(&r), StatusCode::Ok);
    assert_eq!(names(&mut s, "vm1"), vec!["b"]);
    // Symlinks inside the datastore work and read back relative.
    let r = call(
        &mut s,
        Packet::Symlink(Symlink {
            id: 1,
            linkpath: "/vmfs/volumes/datastore1/vm1/b".into(),
            targetpath: "link".into(),
        }),
    );
    assert_eq!(status(&r), StatusCode::Ok);
    match call(
        &mut s,
        Packet::ReadLink(ReadLink {
            id: 1,
            path: "link".into(),
        }),
    ) {
        Packet::Name(n) => assert_eq!(n.files[0].filename, "vm1/b"),
        other => panic!("{other:?}"),
    }
    match call(
        &mut s,
        Packet::Stat(Stat {
            id: 1,
            path: "link".into(),
        }),
    ) {
        Packet::Attrs(a) => assert_eq!(a.attrs.size, Some(1)),
        other => panic!("{other:?}"),
    }
    match call(
        &mut s,
        Packet::Lstat(Lstat {
            id: 1,
            path: "link".into(),
        }),
    ) {
        Packet::Attrs(a) => assert!(a.attrs.is_symlink()),
        other => panic!("{other:?}"),
    }
    let r = call(
        &mut s,
        Packet::Remove(Remove {
            id: 1,
            filename: "link".into(),
        }),
    );
    assert_eq!(status(&r), StatusCode::Ok);
    // The synthetic directories and the datastore root cannot be removed.
    for p in ["/vmfs", "/vmfs/volumes/datastore1", "/"] {
        let r = call(
            &mut s,
            Packet::Remove(Remove {
                id: 1,
                filename: p.into(),
            }),
        );
        assert_eq!(status(&r), StatusCode::PermissionDenied, "{p}");
    }
}

#[test]
fn malformed_and_oversized_requests() {
    let f = fixture("bad", None);
    let mut s = server(&f);
    // An OPEN whose name is not UTF-8: the reply carries the request id.
    let mut raw = vec![3u8];
    raw.extend_from_slice(&77u32.to_be_bytes());
    raw.extend_from_slice(&2u32.to_be_bytes());
    raw.extend_from_slice(&[0xff, 0xfe]);
    match s.handle_packet(Bytes::from(raw)) {
        Packet::Status(st) => {
            assert_eq!(st.id, 77);
            assert_eq!(st.status_code, StatusCode::BadMessage);
        }
        other => panic!("{other:?}"),
    }
    // A truncated packet.
    assert!(matches!(
        s.handle_packet(Bytes::from_static(&[3])),
        Packet::Status(_)
    ));
    // A read of a closed handle.
    assert_eq!(
        status(&call(
            &mut s,
            Packet::Close(Close {
                id: 1,
                handle: "999".into()
            })
        )),
        StatusCode::Failure
    );
    match call(
        &mut s,
        Packet::Extended(Extended {
            id: 1,
            request: "limits@openssh.com".into(),
            data: vec![],
        }),
    ) {
        Packet::ExtendedReply(r) => {
            let read = u64::from_be_bytes(r.data[8..16].try_into().expect("8"));
            assert_eq!(read, MAX_IO as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn serve_closes_on_oversized_packet() {
    let f = fixture("serve", None);
    let s = server(&f);
    let (mut client, srv) = tokio::io::duplex(1 << 20);
    let (r, w) = tokio::io::split(srv);
    let task = tokio::spawn(serve(r, w, s));
    use tokio::io::AsyncWriteExt;
    client
        .write_all(&(MAX_PACKET + 1).to_be_bytes())
        .await
        .expect("write");
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the session must end")
        .expect("join");
}
