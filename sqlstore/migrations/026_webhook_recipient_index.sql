-- Only a shipper's webhook deliveries are read by their recipient (the
-- webhook's delivery log, and holding back an endpoint that fails). Every
-- text and email was in that index too, under a phone number or an address
-- that lands on a page of its own, so each message queued cost a write there
-- that nothing read: now the index holds the webhook deliveries alone, and
-- the statements that read it name that channel as written here.
DROP INDEX notifications_recipient;
CREATE INDEX notifications_webhook_recipient ON notifications (recipient, created_at, id) WHERE channel = 'shipper_webhook';
