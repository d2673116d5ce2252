-- Keys issued by another system and imported by digest (`keyward import`), numbered as
-- SQLite's migration 0010: they carry no keyward prefix or checksum, so verification looks
-- them up by the digest of whatever string is presented. Every key created before this
-- migration is keyward's own.
ALTER TABLE keys ADD COLUMN imported BOOLEAN NOT NULL DEFAULT FALSE;
