//! Fuzz target body for fakedc-pwsh: the input is a script (UTF-8, lossy)
//! parsed and then run in a runspace with small budgets on a machine
//! without Hyper-V or a share. No panic, bounded time and memory: the
//! parser refuses deep nesting, the evaluator's steps, call depth, sizes
//! and waits are budgeted, and every failure is in the Invocation.

use fakedc_pwsh::{HostContext, Limits, NoHost, Pipeline, Runspace};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn model() -> &'static Arc<fakedc_model::Model> {
    static M: OnceLock<Arc<fakedc_model::Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(fakedc_scenario::Scenario::default_scenario().model()))
}

/// Parses and runs one script.
pub fn script(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = fakedc_pwsh::parser::parse(&text);
    let model = model().clone();
    let machine = model
        .find("vmm01")
        .map(|m| m.id)
        .unwrap_or(fakedc_model::MachineId(0));
    let mut rs = Runspace::new(HostContext {
        model,
        machine,
        user: "Administrator".into(),
        share: None,
        host: Arc::new(NoHost),
        limits: Limits {
            max_steps: 20_000,
            max_depth: 50,
            max_items: 100_000,
            max_memory: 16 << 20,
            max_script: 1 << 16,
            max_output: 1_000,
            max_wait: Duration::ZERO,
            // Half the default call depth and no debug build: 32 MiB is
            // ample, and AddressSanitizer maps shadow memory per stack.
            eval_stack: 32 << 20,
        },
        service: "fuzz".into(),
    });
    let inv = rs.invoke(&Pipeline::Script(text.to_string()), Vec::new());
    if parsed.is_err() {
        assert!(inv.had_errors, "a parse error is an error record");
    }
    assert!(inv.output.len() <= 100_000);
    let _ = fakedc_pwsh::console::render(&inv, &text);
}
