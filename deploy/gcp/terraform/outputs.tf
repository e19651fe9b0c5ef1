output "public_url" {
  description = "listen.public_url of the deployed gateway. Register <public_url>/oauth/callback with the IdP."
  value       = local.public_url
}

output "service_uri" {
  description = "The Cloud Run service's own URL."
  value       = google_cloud_run_v2_service.weir.uri
}

output "image" {
  description = "Image the service runs; push it before the full apply."
  value       = local.image
}

output "service_account_email" {
  description = "Runtime identity (roles/aiplatform.user)."
  value       = google_service_account.weir.email
}

output "sql_private_ip" {
  description = "Cloud SQL private address."
  value       = google_sql_database_instance.weir.private_ip_address
}

output "client_settings_command" {
  description = "Produces the managed-settings.json for developer machines."
  value       = "weir client-settings --url ${local.public_url} > managed-settings.json"
}
