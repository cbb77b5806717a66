//! Fuzz target body for fakedc-psrp: everything a client's bytes reach
//! (fragments and their reassembly, the message header, CLIXML, the
//! CREATE_PIPELINE reader, a runspace pool fed them as `creationXml`, as a
//! pipeline's Command and as Send). No panic; reassembled messages stay
//! within the limit; what the CLIXML reader accepts, the writer writes and
//! the reader reads back to the same text.

use fakedc_psrp::clixml::{self, Writer};
use fakedc_psrp::fragment::Defragmenter;
use fakedc_psrp::message::Message;
use fakedc_psrp::messages::{parse_create_pipeline, Event, Finish, PipelineSpec};
use fakedc_psrp::pool::{Limits, Outcome, Pool, Runspace};
use fakedc_psrp::{Guid, Value};

const MAX_MESSAGE: usize = 64 << 10;

struct Echo;

impl Runspace for Echo {
    fn invoke(&mut self, p: &PipelineSpec, input: Vec<Value>) -> Outcome {
        let mut events: Vec<Event> = input.into_iter().map(Event::Output).collect();
        events.push(Event::Output(Value::str(p.summary(64))));
        Outcome {
            events,
            finish: Finish::Completed,
        }
    }
}

fn clixml_round_trip(data: &[u8]) {
    let lim = clixml::Limits {
        max_nodes: 20_000,
        ..Default::default()
    };
    if let Ok(v) = clixml::read(data, &lim) {
        let _ = parse_create_pipeline(&v);
        let once = Writer::write(&v);
        let back = clixml::read(once.as_bytes(), &clixml::Limits::default())
            .expect("the writer's own CLIXML reads back");
        assert_eq!(Writer::write(&back), once, "CLIXML round trip");
    }
}

/// The input as a stream of fragments, as CLIXML, and as a pool's input.
pub fn decode(data: &[u8]) {
    let mut d = Defragmenter::new(MAX_MESSAGE, 4);
    if let Ok(msgs) = d.push(data) {
        for m in msgs {
            assert!(m.len() <= MAX_MESSAGE);
            if let Ok(msg) = Message::decode(&m) {
                clixml_round_trip(&msg.data);
            }
        }
    }
    clixml_round_trip(data);

    let limits = Limits {
        max_message: MAX_MESSAGE,
        max_pipelines: 4,
        max_input_objects: 64,
        max_output_bytes: 1 << 20,
        ..Default::default()
    };
    // The first two bytes (LE) say where `creationXml` ends and the
    // pipeline's bytes begin; the pool's id is whatever the first message
    // names, so the rest of the input can reach past the pool-id check.
    if data.len() < 2 {
        return;
    }
    let cut = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (creation, pipeline) = data[2..].split_at(cut);
    let rpid = first_ids(creation).map(|(r, _)| r).unwrap_or(Guid::NIL);
    if let Ok(mut pool) = Pool::open(rpid, creation, Box::new(Echo), limits) {
        let pid = first_ids(pipeline).map(|(_, p)| p).unwrap_or(Guid([7; 16]));
        let _ = pool.command(pid, pipeline);
        let _ = pool.send(None, pipeline);
        let _ = pool.send(Some(pid), pipeline);
        let _ = pool.stop(pid);
        let t = pool.receive(Some(pid), 4096);
        let _ = pool.receive(None, 4096);
        let _ = t;
    }
}

/// The pool and pipeline ids of the first message in a fragment stream.
fn first_ids(data: &[u8]) -> Option<(Guid, Guid)> {
    let (f, _) = fakedc_psrp::fragment::Fragment::decode(data).ok()?;
    let b = f.blob.get(8..40)?;
    let mut r = [0u8; 16];
    let mut p = [0u8; 16];
    r.copy_from_slice(&b[..16]);
    p.copy_from_slice(&b[16..]);
    Some((Guid(r), Guid(p)))
}
