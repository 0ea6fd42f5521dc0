"""Thin HTTP routes: parse, call the domain, render a template or JSON."""
