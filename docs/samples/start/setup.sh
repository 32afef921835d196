export OMNIRELAY_BASE_URL=https://omnirelay.example.com   # this gateway's address
export OMNIRELAY_KEY=sk-or-your-key                        # your omnirelay key
