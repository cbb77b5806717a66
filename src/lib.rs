//! fakedc
