//! Cmdlets over the model.
