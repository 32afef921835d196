# What your key has spent and may still spend (US dollars)
curl -s "$OMNIRELAY_BASE_URL/v1/dashboard/billing/subscription" -H "Authorization: Bearer $OMNIRELAY_KEY"
echo
curl -s "$OMNIRELAY_BASE_URL/v1/dashboard/billing/usage" -H "Authorization: Bearer $OMNIRELAY_KEY"
