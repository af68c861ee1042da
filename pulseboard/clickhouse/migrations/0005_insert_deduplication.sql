-- Every table that inserts into events reach keeps the deduplication tokens of its last
-- 10,000 inserts. The flush gives each batch a token that depends only on the batch's
-- stream entries and rows, and repeats a batch that may have been half written (a crash,
-- a lost answer) with the same token: each table then writes only what it missed, so
-- every rollup ends up agreeing with events (see apps/ingest/services.py). The window is
-- a count of inserts per table; a repeat comes within seconds or minutes of the first try.
ALTER TABLE events MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE event_counts_15m MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE person_slots_15m MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE session_slots_15m MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE person_days MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE person_event_days MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE funnel_events MODIFY SETTING non_replicated_deduplication_window = 10000;
