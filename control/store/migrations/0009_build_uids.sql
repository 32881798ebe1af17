-- 0009: a build uid per service (#16). When control runs as root, a service's install and
-- build commands run as uid (and gid) [builds] uid_base + build_uid, so one service's build
-- cannot read another's /proc/PID/environ or signal its processes, and every process of that
-- uid can be killed when a build ends. Assigned on the service's first build from the
-- sequence, kept for the service's life and never handed out again (a deleted service's
-- number is not reused).
CREATE SEQUENCE service_build_uid_seq AS integer MINVALUE 1 START 1 NO CYCLE;
ALTER TABLE services ADD COLUMN build_uid integer UNIQUE CHECK (build_uid > 0);
