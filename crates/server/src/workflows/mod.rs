//! Workflows: what a request or a worker does to the platform's records, in one place per family,
//! between the thin HTTP handlers (extract → authorize → call → respond) and the store and
//! clusters. A workflow works over a [`Ctx`] – the store, the sealing key, the clusters, the
//! queue's signals and the caches a change makes stale – never the whole application state. The
//! audit entry of a change commits in the same store transaction as the change; what is left to
//! do after the commit (wake workers, forget cached views) goes through [`Ctx::committed`].

pub mod backups;
pub mod databases;
pub mod day2;
pub mod maintenance;
pub mod providers;

use crate::auth::Caller;
pub use crate::context::{Committed, Ctx};
use crate::state::RequestCtx;

/// Who asks for a change: a caller, or the platform itself (the maintenance scheduler).
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub ctx: &'a RequestCtx,
    /// A leader's loop acting for the platform: its change applies only while its term lasts.
    pub fence: Option<&'a store::Fence>,
}

impl<'a> From<&'a Caller> for Actor<'a> {
    fn from(c: &'a Caller) -> Self {
        Actor {
            user_id: &c.user_id,
            email: &c.email,
            ctx: &c.ctx,
            fence: None,
        }
    }
}
