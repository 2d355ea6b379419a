-- The text of the answer being written, as its turn last saved it (twice a second): what the page showed of an
-- answer cut off by a crash is kept with it.
ALTER TABLE conversations ADD COLUMN draft TEXT;
