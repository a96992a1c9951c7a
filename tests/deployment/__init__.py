"""Tests against a real Airflow deployment (see ``deployment_support``); one deployment for the package."""
