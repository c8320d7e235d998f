//! The component glue: the `wit-bindgen` bindings, and the three exports forwarded to the
//! instance's [`Dispatcher`]. No logic lives here.

use std::cell::RefCell;

use crate::dispatch::Dispatcher;

wit_bindgen::generate!({
    // The contract, shared with every host.
    path: "../wit",
    world: "driver",
});

use exports::wasmpg::driver::packed::Guest;

thread_local! {
    /// One instance is one session (the contract has no resource): the instance's only state.
    /// The component model never re-enters a running call, so the borrow never overlaps.
    static DISPATCHER: RefCell<Dispatcher> = RefCell::new(Dispatcher::new());
}

struct Component;

export!(Component);

impl Guest for Component {
    fn version() -> String {
        wasmpg_wire::CONTRACT_VERSION.to_owned()
    }

    fn call(request: String) -> String {
        DISPATCHER.with(|d| d.borrow_mut().call_str(&request))
    }

    fn call_bytes(request: Vec<u8>) -> String {
        DISPATCHER.with(|d| d.borrow_mut().call_bytes(&request))
    }
}
