-- What the web overview splits pageviews by, stored with each event so that no query parses
-- URLs or user agents over millions of rows (parsing them at query time cost seconds on
-- 10M events; reading a LowCardinality column costs about what counting the rows does).
--
-- browser, os, device_type and country are worked out by ingest (apps/ingest/devices.py):
-- the user agent parsed in Python, the country of the IP before it is hashed. Rows stored
-- before this migration read them as '' ("Unknown").
--
-- The others are MATERIALIZED: ClickHouse computes them from page_url and referrer on
-- insert. For the rows stored before, it computes them on read until a merge writes them
-- (or ALTER TABLE events MATERIALIZE COLUMN <name>, a background mutation, does at once).
-- * page_path: the path of page_url without query string, fragment or trailing slash, '/'
--   for the home page (apps.web.paths.page_node, which must say the same);
-- * referrer_domain: the referrer's domain without www., '$direct' without a referrer, and
--   '' for a referrer on the page's own site (navigation, not a source, as in Plausible);
-- * utm_source, utm_medium, utm_campaign: those page_url query parameters, decoded.
ALTER TABLE events ADD COLUMN IF NOT EXISTS browser LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS os LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS device_type LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS country LowCardinality(String) DEFAULT '';

ALTER TABLE events ADD COLUMN IF NOT EXISTS page_path String
    MATERIALIZED if(page_url = '', '', if(trim(TRAILING '/' FROM path(page_url)) = '', '/', trim(TRAILING '/' FROM path(page_url))));

ALTER TABLE events ADD COLUMN IF NOT EXISTS referrer_domain LowCardinality(String)
    MATERIALIZED if(referrer = '', '$direct', if(domainWithoutWWW(referrer) = domainWithoutWWW(page_url), '', domainWithoutWWW(referrer)));

ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_source LowCardinality(String)
    MATERIALIZED decodeURLFormComponent(extractURLParameter(page_url, 'utm_source'));

ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_medium LowCardinality(String)
    MATERIALIZED decodeURLFormComponent(extractURLParameter(page_url, 'utm_medium'));

ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_campaign LowCardinality(String)
    MATERIALIZED decodeURLFormComponent(extractURLParameter(page_url, 'utm_campaign'));
