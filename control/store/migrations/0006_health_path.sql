-- 0006: a health check path told apart from the default (#16). health_check_path defaults to
-- the seed's '/health', which a static site rarely has: the static health check requests it
-- only when it was set explicitly (POST or PATCH services/ with health_check_path), else '/'.
ALTER TABLE services ADD COLUMN health_check_path_configured boolean NOT NULL DEFAULT false;
