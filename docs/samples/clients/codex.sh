export OMNIRELAY_API_KEY=$OMNIRELAY_KEY        # the variable env_key names
codex exec --skip-git-repo-check "Explain this repository"   # or just `codex`
codex -m gemini-2.0-flash                      # another model, same provider
