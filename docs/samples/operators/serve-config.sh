omnirelay serve --config omnirelay.toml   # the file seeds the database at start
