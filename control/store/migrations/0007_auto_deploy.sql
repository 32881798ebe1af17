-- 0007: auto-deploy paused after a rollback (#16). A rollback (or instant-rollback) pauses
-- pushes for its service, so the next push cannot bring the version just rolled away from
-- straight back. Cleared by POST services/{id}/auto-deploy/resume/ or PATCH
-- {"auto_deploy": true}. Manual triggers are not affected.
ALTER TABLE services ADD COLUMN auto_deploy_paused boolean NOT NULL DEFAULT false;
ALTER TABLE services ADD COLUMN auto_deploy_paused_reason text;
