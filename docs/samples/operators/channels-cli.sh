# One channel per vendor account; --models limits it to some models (default: all of the vendor's)
omnirelay channels add --name openai --vendor openai --base-url https://api.openai.com/v1 --api-key "$OPENAI_API_KEY"
omnirelay channels add --name vllm --vendor openai-chat --base-url http://vllm.internal:8000/v1 --api-key none --models llama-3.1-70b
omnirelay channels add --name claude --vendor anthropic --base-url https://api.anthropic.com --api-key "$ANTHROPIC_API_KEY"
omnirelay channels add --name gemini --vendor gemini --base-url https://generativelanguage.googleapis.com --api-key "$GEMINI_API_KEY"
omnirelay channels add --name kling --vendor kling --base-url https://api-singapore.klingai.com --api-key "$KLING_ACCESS_KEY:$KLING_SECRET_KEY"
omnirelay channels add --name suno --vendor suno --base-url https://suno-api.internal --api-key "$SUNO_API_TOKEN"
omnirelay channels add --name mj-fast --vendor midjourney --base-url https://mj-proxy.internal --api-key "$MJ_API_SECRET" --models midjourney-fast,midjourney-turbo
omnirelay channels add --name mj-relax --vendor midjourney --base-url https://mj-proxy.internal/mj-relax --api-key "$MJ_API_SECRET" --models midjourney-relax
omnirelay channels add --name ideogram --vendor ideogram --base-url https://api.ideogram.ai --api-key "$IDEOGRAM_API_KEY"
omnirelay channels add --name bfl --vendor bfl --base-url https://api.bfl.ai --api-key "$BFL_API_KEY"
omnirelay channels list
