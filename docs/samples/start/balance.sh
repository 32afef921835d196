# What your key may still spend, as OpenAI's old dashboard answered it
curl -s "$OMNIRELAY_BASE_URL/v1/dashboard/billing/subscription" \
  -H "Authorization: Bearer $OMNIRELAY_KEY"
