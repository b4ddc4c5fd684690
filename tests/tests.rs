//! End-to-end tests through the public API (one test binary; topics are modules).

mod end_to_end;
