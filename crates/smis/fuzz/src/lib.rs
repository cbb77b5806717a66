//! Fuzz target body for fakedc-smis: a CIM-XML request body through the
//! decoder and, when it decodes, through the operations on a small array
//! (pools, volumes, masking, a job). No panic; an accepted request's ID
//! is 1..=64 characters; every answer is well-formed XML that echoes the
//! request's MESSAGE ID; a refused request maps to a DSP0200 CIMError.

use fakedc_model::storage::{Array, Pool, TargetPort, Volume};
use fakedc_model::{Clock, MachineId, Privilege};
use fakedc_smis::cimxml::{decode, limits};
use fakedc_smis::ops;
use std::collections::BTreeSet;

pub fn array() -> Array {
    let gib = 1u64 << 30;
    let mut initiators = BTreeSet::new();
    initiators.insert("iqn.1991-05.com.microsoft:hv01.lab.test".to_string());
    Array {
        machine: MachineId(0),
        name: "array01".into(),
        vendor: "Contoso".into(),
        model: "FakeArray 9000".into(),
        serial: "FA0000000001".into(),
        pools: vec![
            Pool {
                id: "P-1".into(),
                name: "Gold".into(),
                capacity: 100 * gib,
            },
            Pool {
                id: "P-2".into(),
                name: "Tiny".into(),
                capacity: gib,
            },
        ],
        volumes: vec![Volume {
            id: "10001".into(),
            name: "csv01".into(),
            pool: "P-1".into(),
            size: 10 * gib,
            wwn: "60a0b0c0000000000000000000000001".into(),
            initiators,
        }],
        ports: vec![TargetPort {
            id: "TP-1".into(),
            iqn: "iqn.2026-01.test.fakedc:array01.tp1".into(),
        }],
        jobs: Vec::new(),
        next: 1,
        generation: 0,
    }
}

/// One request body.
pub fn request(data: &[u8]) {
    let req = match decode(data) {
        Ok(r) => r,
        Err(e) => {
            let (header, status) = e.header();
            assert!(!header.is_empty());
            assert!(status == 400 || status == 501);
            return;
        }
    };
    assert!(!req.message_id.is_empty() && req.message_id.len() <= 64);
    let mut a = array();
    let now = Clock::new().now();
    let mut initiators = vec![(
        "iqn.1991-05.com.microsoft:hv02.lab.test".to_string(),
        "hv02".to_string(),
    )];
    let answer = ops::run(
        &mut a,
        "array01.lab.test",
        &mut initiators,
        Privilege::Admin,
        &req,
        now,
    );
    let big = fakedc_xml::Limits {
        max_elements: 1_000_000,
        ..limits()
    };
    let tree = fakedc_xml::parse(answer.xml.as_bytes(), &big)
        .unwrap_or_else(|e| panic!("answer is not XML ({e}): {}", answer.xml));
    let msg = tree
        .children
        .iter()
        .find(|c| c.name == "MESSAGE")
        .expect("MESSAGE");
    assert_eq!(msg.attr("ID"), Some(req.message_id.as_str()));
    assert!(!answer.outcome.is_empty());
    // Whatever ran, the pools never hand out more than they hold.
    a.advance(now + fakedc_model::storage::JOB_DURATION);
    for p in &a.pools {
        assert!(a.used(&p.id) <= p.capacity || a.jobs.iter().any(|j| !j.done));
    }
}
