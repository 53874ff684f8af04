//! Receipt printers: the ESC/POS encoder and layouts (pure), the status exchange and the virtual
//! printer (I/O). The spooler that reads the durable print queue is `app::spooler`.

pub mod codepage;
pub mod direct;
pub mod escpos;
pub mod layout;
pub mod link;
pub mod pages;
pub mod preview;
pub mod profile;
pub mod sample;
pub mod status;

pub use link::{PrintedPaper, VirtualPaper};
