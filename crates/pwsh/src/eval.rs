//! The evaluator.

use crate::{ErrorRecord, Invocation, Pipeline, PipelineState, Runspace, Value};

/// PowerShell's automatic variables for a new runspace.
pub(crate) fn init_globals(rs: &mut Runspace) {
    rs.set_variable("true", Value::Bool(true));
}

/// Runs a pipeline (see [`Runspace::invoke`]).
pub(crate) fn invoke(rs: &mut Runspace, pipeline: &Pipeline, input: Vec<Value>) -> Invocation {
    let _ = (rs, pipeline, input);
    let mut inv = Invocation::new();
    let e = ErrorRecord::not_implemented("the evaluator");
    inv.errors.push(e.clone());
    inv.had_errors = true;
    inv.state = PipelineState::Failed(e);
    inv
}
