//! Planner tests (kept apart so that plan.rs stays readable).
