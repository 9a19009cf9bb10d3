-- A resource's tags go with it: deleted with the row, and cleared when a row takes an ARN again (a
-- model deleted and created anew under its name must not get the old one's tags back). Before, the
-- store ran these DELETEs as statements of their own in each write; as triggers they are part of the
-- INSERT or DELETE that fires them, so a create or a delete is one statement, which SQLite undoes
-- by itself when it fails, and the store's one writer needs no savepoint around it (issue 16).
CREATE TRIGGER models_tags_on_insert AFTER INSERT ON models
BEGIN
    DELETE FROM tags WHERE arn = NEW.arn;
END;
CREATE TRIGGER models_tags_on_delete AFTER DELETE ON models
BEGIN
    DELETE FROM tags WHERE arn = OLD.arn;
END;

CREATE TRIGGER endpoint_configs_tags_on_insert AFTER INSERT ON endpoint_configs
BEGIN
    DELETE FROM tags WHERE arn = NEW.arn;
END;
CREATE TRIGGER endpoint_configs_tags_on_delete AFTER DELETE ON endpoint_configs
BEGIN
    DELETE FROM tags WHERE arn = OLD.arn;
END;

CREATE TRIGGER endpoints_tags_on_insert AFTER INSERT ON endpoints
BEGIN
    DELETE FROM tags WHERE arn = NEW.arn;
END;
CREATE TRIGGER endpoints_tags_on_delete AFTER DELETE ON endpoints
BEGIN
    DELETE FROM tags WHERE arn = OLD.arn;
END;

-- Transform jobs are never deleted (0005's trigger).
CREATE TRIGGER transform_jobs_tags_on_insert AFTER INSERT ON transform_jobs
BEGIN
    DELETE FROM tags WHERE arn = NEW.arn;
END;
