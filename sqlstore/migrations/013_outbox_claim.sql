-- A claim reads the pending messages of one channel in the order they fall
-- due and stops at its batch size, so its cost does not grow with the messages
-- already sent (which are most of the table) nor with another channel's
-- backlog. It replaces notifications_due, which led with status and could not
-- serve the channel or the order.
DROP INDEX notifications_due;
CREATE INDEX notifications_claim ON notifications (channel, next_attempt_at, id) WHERE status = 'pending';
