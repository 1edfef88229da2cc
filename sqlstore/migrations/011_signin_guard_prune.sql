-- Sign-in counters are now also kept per client address, and a counter
-- whose window has ended is pruned: a flood of made-up account IDs would
-- otherwise leave a row each behind. The index keeps the pruning cheap.
CREATE INDEX signin_guard_window ON signin_guard (window_start);
