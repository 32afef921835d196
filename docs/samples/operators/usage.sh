# The latest usage records, and spending per model per day
curl -s "$OMNIRELAY_BASE_URL/admin/usage?limit=5" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY"
echo
curl -s "$OMNIRELAY_BASE_URL/admin/usage/aggregates?bucket=day&by=model" \
  -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY"
