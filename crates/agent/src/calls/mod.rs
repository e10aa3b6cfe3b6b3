//! Checks on the calls a model makes, beyond what the grammar enforces: whether their values
//! come from the conversation, and whether the answer holds all the calls the request needs.

mod articles;
mod asked;
mod checked;
mod choices;
mod companions;
mod currencies;
mod dates;
mod echo;
mod flags;
mod formats;
mod grounding;
mod hemispheres;
mod implied;
mod journeys;
mod lists;
mod named;
mod names;
mod opposites;
mod placement;
mod relevance;
mod repeated;
mod units;
mod variants;
mod written;
mod years;

pub use asked::AskedFunctions;
pub use checked::{
    checked_generation, CallCheck, CheckReport, CheckReportSlot, CheckedCall, DroppedArgument,
    DroppedItems, RewrittenArgument,
};
pub use grounding::{CallGrounding, Grounds};
