-- A resume's summary line (a delivery row with a note) and the rows folded into it were
-- never posted as their paper's announcement: a later change to such a paper owes no
-- edit and no reply. Only a row posted as that paper's own message is marked.
DROP TRIGGER IF EXISTS deliveries_paper_changed;
CREATE TRIGGER deliveries_paper_changed AFTER UPDATE OF title, doi, journal_ref, comment, arxiv_version ON papers
WHEN new.title IS NOT old.title OR new.doi IS NOT old.doi OR new.journal_ref IS NOT old.journal_ref
  OR new.comment IS NOT old.comment OR new.arxiv_version IS NOT old.arxiv_version
BEGIN
    UPDATE deliveries SET update_pending = 1
    WHERE paper_id = new.id AND status = 'sent' AND note IS NULL AND folded_into IS NULL;
END;

-- Edits already owed to such rows by the old trigger are dropped, with the reason.
UPDATE deliveries SET update_pending = 0,
    updated_note = 'a resume''s summary line, not this paper''s announcement: not edited'
WHERE update_pending = 1 AND (note IS NOT NULL OR folded_into IS NOT NULL);
