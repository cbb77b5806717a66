//! Fuzz target bodies for fakedc-tds: everything a client's bytes reach
//! before the engine (packet reassembly, PRELOGIN, LOGIN7, SQLBatch text,
//! RPC parameters, the T-SQL translator). No panic; sizes stay bounded;
//! what parses re-encodes and parses again to the same thing.

use fakedc_tds::login7::Login7;
use fakedc_tds::packet::{PacketType, Reassembler};
use fakedc_tds::prelogin::PreLogin;
use fakedc_tds::{rpc, session, translate};

const MAX_MESSAGE: usize = 1 << 20;

/// The input as a client's byte stream (split in two reads), and each
/// decoder on the raw input as well.
pub fn decode(data: &[u8]) {
    let mut r = Reassembler::new(4096, MAX_MESSAGE);
    let cut = data.len() / 2;
    r.push(&data[..cut]);
    let mut messages = Vec::new();
    while let Ok(Some(m)) = r.next_message() {
        messages.push(m);
    }
    r.push(&data[cut..]);
    while let Ok(Some(m)) = r.next_message() {
        messages.push(m);
    }
    for m in &messages {
        assert!(m.payload.len() <= MAX_MESSAGE);
        assert!(m.payload.len() <= data.len());
        message(m.ty, &m.payload);
    }
    for ty in [
        PacketType::PreLogin,
        PacketType::Login7,
        PacketType::SqlBatch,
        PacketType::Rpc,
    ] {
        message(ty, data);
    }
}

fn message(ty: PacketType, payload: &[u8]) {
    match ty {
        PacketType::PreLogin => {
            if let Ok(p) = PreLogin::parse(payload) {
                let again = PreLogin::parse(&p.write()).expect("a written PRELOGIN parses");
                assert_eq!(again, p);
            }
        }
        PacketType::Login7 => {
            if let Ok(l) = Login7::parse(payload) {
                let again = Login7::parse(&l.write()).expect("a written LOGIN7 parses");
                assert_eq!(again.username, l.username);
                assert_eq!(again.database, l.database);
            }
        }
        PacketType::SqlBatch => {
            for v71 in [false, true] {
                if let Ok(text) = session::batch_text(payload, v71) {
                    sql(&text);
                }
            }
        }
        PacketType::Rpc => {
            let mut r = fakedc_wire_reader(payload);
            let mut n = 0;
            while n < 64 {
                if rpc::param(&mut r).is_err() {
                    break;
                }
                n += 1;
            }
        }
        _ => {}
    }
}

fn fakedc_wire_reader(b: &[u8]) -> fakedc_tds::Reader<'_> {
    fakedc_tds::Reader::new(b)
}

/// The translator on any text: no panic, every statement classified.
fn sql(text: &str) {
    let ctx = translate::Ctx {
        spid: 51,
        user: "sa".into(),
        server: "SQL01".into(),
        database: "master".into(),
        now: "2026-01-01 00:00:00.000".into(),
        databases: vec!["master".into()],
        trancount: 0,
        live: None,
        // A table variable and a typed variable, so their rewrites run.
        table_vars: vec!["@t".into()],
        var_types: vec![("@i".into(), "int".into())],
    };
    let toks = translate::tokenize(text);
    assert!(toks.len() <= text.chars().count() + 1);
    let stmts = translate::split(toks);
    for st in &stmts {
        let _ = translate::classify(st, &ctx);
    }
    // Control flow: IF/WHILE conditions rewrite like any expression.
    if let Ok(nodes) = translate::parse(stmts) {
        conditions(&nodes, &ctx, 0);
    }
}

fn conditions(nodes: &[translate::Node], ctx: &translate::Ctx, depth: usize) {
    assert!(depth <= 256, "nesting is bounded by the parser");
    for n in nodes {
        match n {
            translate::Node::If {
                cond,
                then,
                otherwise,
            } => {
                let _ = translate::condition_sql(cond, ctx);
                conditions(std::slice::from_ref(then), ctx, depth + 1);
                if let Some(o) = otherwise {
                    conditions(std::slice::from_ref(o), ctx, depth + 1);
                }
            }
            translate::Node::While { cond, body } => {
                let _ = translate::condition_sql(cond, ctx);
                conditions(std::slice::from_ref(body), ctx, depth + 1);
            }
            translate::Node::Block(inner) => conditions(inner, ctx, depth + 1),
            _ => {}
        }
    }
}
