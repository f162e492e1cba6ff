"""The one HTTP client every tap and target uses: pooling, budgets, retries, redaction."""

from ponte.http.client import HttpClient, HttpSettings, parsed_body
from ponte.http.rate_budget import DailyQuota, RateLimiter

__all__ = ["DailyQuota", "HttpClient", "HttpSettings", "RateLimiter", "parsed_body"]
