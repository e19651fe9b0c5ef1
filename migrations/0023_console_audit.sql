-- The console's audit page (lib/console/primary.ts) pages the trail newest first by id, filtered by
-- action or actor. With (action, id) and (actor, id) a filtered page is a backward range scan of one
-- index that stops after one page, however long the trail; without them every filtered page read
-- and sorted the whole table. (action, id) also answers the page's list of distinct actions with a
-- loose index scan, one index probe per distinct action, instead of a scan of the trail per request.
CREATE INDEX IF NOT EXISTS admin_audit_action_id ON admin_audit (action, id);
CREATE INDEX IF NOT EXISTS admin_audit_actor_id ON admin_audit (actor, id);
