git pull                      # or install the new release
make install                  # dependencies of the new version
omnirelay serve               # migrations run at start (under a lock on PostgreSQL)
