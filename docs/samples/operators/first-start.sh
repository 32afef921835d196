# Real vendors: a key in the environment becomes a channel at start
export OPENAI_API_KEY=sk-...                      # openai-env: every OpenAI model of the catalogue
export ANTHROPIC_API_KEY=sk-ant-...               # anthropic-env
export GEMINI_API_KEY=AIza...                     # gemini-env
export KLING_ACCESS_KEY=ak-... KLING_SECRET_KEY=sk-...   # kling-env
export OMNIRELAY_PUBLIC_URL=https://ai.example.com       # how your users reach it
omnirelay serve --host 0.0.0.0 --port 8000 --workers 2
