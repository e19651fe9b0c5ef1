#!/usr/bin/env bash
# Provision Weir on Google Cloud: Cloud Run + Cloud SQL (private IP) + Secret Manager + Vertex AI.
#
# Idempotent: every step checks what exists before creating it, so re-running after a failure or
# to roll out a new image is safe. Existing secrets are never overwritten, except the rendered
# gateway.yaml, which gets a new version only when its content changes.
#
# Required:
#   PROJECT_ID          GCP project
#   OIDC_ISSUER         e.g. https://accounts.google.com
#   OIDC_CLIENT_ID      OAuth web client id (redirect URI: <public_url>/oauth/callback)
#   OIDC_CLIENT_SECRET  needed only on the first run, while the secret does not exist yet
#   ALLOWED_EMAIL_DOMAINS  comma-separated, e.g. example.com,example.org
# Optional (defaults in brackets):
#   REGION [us-east5]  VERTEX_REGION [$REGION]  SERVICE [weir]  IMAGE_TAG [package.json version]
#   INGRESS [internal]            internal | internal-and-cloud-load-balancing
#   INVOKER [all-users]           all-users (allUsers gets run.invoker) | no-iam-check
#   PUBLIC_URL [the service's *.run.app URL]  set to the internal load balancer's https origin
#   PROXY_SUBNET_CIDR []          proxy-only subnet of the internal ALB (added to trusted_proxies)
#   GATEWAY_YAML []               path to your own gateway.yaml to upload instead of the rendered one
#   WORKERS [2] CPU [2] MEMORY [1Gi] MAX_INSTANCES [10] CONCURRENCY [200]
#   SQL_TIER [db-custom-1-3840] SQL_AVAILABILITY [zonal] MAX_CONNECTIONS [5]
#   SKIP_BUILD [0]                1: the image must already be in Artifact Registry
#
# Usage: PROJECT_ID=my-proj OIDC_ISSUER=... OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=... \
#          ALLOWED_EMAIL_DOMAINS=example.com deploy/gcp/setup.sh
set -euo pipefail

: "${PROJECT_ID:?set PROJECT_ID}"
: "${OIDC_ISSUER:?set OIDC_ISSUER}"
# Google issues refresh tokens only with these parameters, and rejects the offline_access scope.
GOOGLE_OIDC_EXTRA=""
case "$OIDC_ISSUER" in
  https://accounts.google.com*) GOOGLE_OIDC_EXTRA='  scopes: [openid, profile, email]
  extra_auth_params: { access_type: offline, prompt: consent }' ;;
esac
: "${OIDC_CLIENT_ID:?set OIDC_CLIENT_ID}"
: "${ALLOWED_EMAIL_DOMAINS:?set ALLOWED_EMAIL_DOMAINS (comma-separated)}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REGION="${REGION:-us-east5}"
VERTEX_REGION="${VERTEX_REGION:-$REGION}"
SERVICE="${SERVICE:-weir}"
SA_NAME="${SA_NAME:-weir-gateway}"
AR_REPO="${AR_REPO:-weir}"
IMAGE_TAG="${IMAGE_TAG:-$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$REPO_ROOT/package.json" | head -n1)}"
VPC="${VPC:-weir-vpc}"
SUBNET="${SUBNET:-weir-subnet}"
SUBNET_RANGE="${SUBNET_RANGE:-10.20.0.0/24}"
SQL_INSTANCE="${SQL_INSTANCE:-weir-db}"
SQL_TIER="${SQL_TIER:-db-custom-1-3840}"
SQL_AVAILABILITY="${SQL_AVAILABILITY:-zonal}"
DB_NAME="${DB_NAME:-weir}"
DB_USER="${DB_USER:-weir}"
INGRESS="${INGRESS:-internal}"
INVOKER="${INVOKER:-all-users}"
PROXY_SUBNET_CIDR="${PROXY_SUBNET_CIDR:-}"
WORKERS="${WORKERS:-2}"
CPU="${CPU:-2}"
MEMORY="${MEMORY:-1Gi}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
CONCURRENCY="${CONCURRENCY:-200}"
MAX_CONNECTIONS="${MAX_CONNECTIONS:-5}"
SKIP_BUILD="${SKIP_BUILD:-0}"

SA_EMAIL="${SA_NAME}@${PROJECT_ID}.iam.gserviceaccount.com"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT_ID}/${AR_REPO}/weir:${IMAGE_TAG}"
SECRET_JWT="${SERVICE}-jwt-secret"
SECRET_OIDC="${SERVICE}-oidc-client-secret"
SECRET_PG="${SERVICE}-postgres-url"
SECRET_CONFIG="${SERVICE}-gateway-config"

case "$INGRESS" in
  internal | internal-and-cloud-load-balancing) ;;
  all) echo "INGRESS=all exposes the gateway publicly; Claude Code refuses public gateways. Use internal or internal-and-cloud-load-balancing." >&2; exit 64 ;;
  *) echo "INGRESS must be internal or internal-and-cloud-load-balancing, got '$INGRESS'" >&2; exit 64 ;;
esac
case "$INVOKER" in
  all-users) INVOKER_FLAG=--allow-unauthenticated ;;
  no-iam-check) INVOKER_FLAG=--no-invoker-iam-check ;;
  *) echo "INVOKER must be all-users or no-iam-check, got '$INVOKER'" >&2; exit 64 ;;
esac

step() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
gc() { gcloud --project="$PROJECT_ID" --quiet "$@"; }

# ensure_secret NAME: create the secret container if missing and let the service account read it.
ensure_secret() {
  if gc secrets describe "$1" >/dev/null 2>&1; then
    note "secret $1 exists"
  else
    gc secrets create "$1" --replication-policy=automatic >/dev/null
    note "created secret $1"
  fi
  gc secrets add-iam-policy-binding "$1" \
    --member="serviceAccount:${SA_EMAIL}" --role=roles/secretmanager.secretAccessor >/dev/null
}

# has_version NAME: true when the secret has at least one enabled version.
has_version() {
  [ -n "$(gc secrets versions list "$1" --filter=state=ENABLED --limit=1 --format='value(name)' 2>/dev/null)" ]
}

# put_version NAME: add a version from stdin.
put_version() { gc secrets versions add "$1" --data-file=- >/dev/null; note "added a version to $1"; }

step "Enabling APIs"
gc services enable aiplatform.googleapis.com artifactregistry.googleapis.com sqladmin.googleapis.com \
  secretmanager.googleapis.com iam.googleapis.com compute.googleapis.com \
  servicenetworking.googleapis.com run.googleapis.com

step "Service account ${SA_EMAIL}"
if gc iam service-accounts describe "$SA_EMAIL" >/dev/null 2>&1; then
  note "exists"
else
  gc iam service-accounts create "$SA_NAME" --display-name="Weir gateway"
fi
# Binding an existing member/role pair is a no-op, so this is safe on every run.
gc projects add-iam-policy-binding "$PROJECT_ID" --member="serviceAccount:${SA_EMAIL}" \
  --role=roles/aiplatform.user --condition=None >/dev/null
note "roles/aiplatform.user granted"

step "Artifact Registry and image ${IMAGE}"
if gc artifacts repositories describe "$AR_REPO" --location="$REGION" >/dev/null 2>&1; then
  note "repository $AR_REPO exists"
else
  gc artifacts repositories create "$AR_REPO" --repository-format=docker --location="$REGION"
fi
if gc artifacts docker images describe "$IMAGE" >/dev/null 2>&1; then
  note "image already pushed"
elif [ "$SKIP_BUILD" = 1 ]; then
  echo "image $IMAGE is not in Artifact Registry and SKIP_BUILD=1" >&2; exit 1
else
  gcloud auth configure-docker "${REGION}-docker.pkg.dev" --quiet
  # Cloud Run needs linux/amd64 and a plain manifest, not a buildx attestation index.
  docker build --platform=linux/amd64 --provenance=false -t "$IMAGE" "$REPO_ROOT"
  docker push "$IMAGE"
fi

step "VPC ${VPC} and subnet ${SUBNET}"
if gc compute networks describe "$VPC" >/dev/null 2>&1; then
  note "network exists"
else
  gc compute networks create "$VPC" --subnet-mode=custom
fi
if gc compute networks subnets describe "$SUBNET" --region="$REGION" >/dev/null 2>&1; then
  note "subnet exists"
else
  gc compute networks subnets create "$SUBNET" --network="$VPC" --region="$REGION" \
    --range="$SUBNET_RANGE" --enable-private-ip-google-access
fi

step "Private services access for Cloud SQL"
PSA_RANGE="google-managed-services-${VPC}"
if gc compute addresses describe "$PSA_RANGE" --global >/dev/null 2>&1; then
  note "reserved range exists"
else
  gc compute addresses create "$PSA_RANGE" --global --purpose=VPC_PEERING --prefix-length=16 --network="$VPC"
fi
if gc services vpc-peerings list --network="$VPC" --format='value(peering)' 2>/dev/null | grep -q servicenetworking; then
  note "peering exists"
else
  gc services vpc-peerings connect --service=servicenetworking.googleapis.com --ranges="$PSA_RANGE" --network="$VPC"
fi

step "Cloud SQL instance ${SQL_INSTANCE} (private IP only)"
if gc sql instances describe "$SQL_INSTANCE" >/dev/null 2>&1; then
  note "instance exists"
else
  gc sql instances create "$SQL_INSTANCE" --database-version=POSTGRES_16 --edition=enterprise \
    --tier="$SQL_TIER" --region="$REGION" --availability-type="$SQL_AVAILABILITY" \
    --network="projects/${PROJECT_ID}/global/networks/${VPC}" --no-assign-ip \
    --ssl-mode=ENCRYPTED_ONLY --backup-start-time=03:00 --enable-point-in-time-recovery \
    --deletion-protection
fi
if gc sql databases describe "$DB_NAME" --instance="$SQL_INSTANCE" >/dev/null 2>&1; then
  note "database $DB_NAME exists"
else
  gc sql databases create "$DB_NAME" --instance="$SQL_INSTANCE"
fi
PRIVATE_IP="$(gc sql instances describe "$SQL_INSTANCE" --format='value(ipAddresses[0].ipAddress)')"

step "Secrets"
for s in "$SECRET_JWT" "$SECRET_OIDC" "$SECRET_PG" "$SECRET_CONFIG"; do ensure_secret "$s"; done

if has_version "$SECRET_JWT"; then
  note "$SECRET_JWT already has a value (rotate with docs/operations.md, not by re-running)"
else
  openssl rand -base64 48 | tr -d '\n' | put_version "$SECRET_JWT"
fi

if has_version "$SECRET_OIDC"; then
  note "$SECRET_OIDC already has a value"
else
  : "${OIDC_CLIENT_SECRET:?set OIDC_CLIENT_SECRET for the first run}"
  printf '%s' "$OIDC_CLIENT_SECRET" | put_version "$SECRET_OIDC"
fi

# The database password lives only inside the postgres-url secret. It is generated and set once;
# later runs leave both alone so running replicas keep working.
if has_version "$SECRET_PG"; then
  note "$SECRET_PG already has a value"
else
  PGPASS="$(openssl rand -hex 24)"
  if gc sql users list --instance="$SQL_INSTANCE" --format='value(name)' | grep -qx "$DB_USER"; then
    gc sql users set-password "$DB_USER" --instance="$SQL_INSTANCE" --password="$PGPASS"
  else
    gc sql users create "$DB_USER" --instance="$SQL_INSTANCE" --password="$PGPASS"
  fi
  printf 'postgres://%s:%s@%s:5432/%s?sslmode=require' "$DB_USER" "$PGPASS" "$PRIVATE_IP" "$DB_NAME" \
    | put_version "$SECRET_PG"
  unset PGPASS
fi

if [ -z "${PUBLIC_URL:-}" ]; then
  PROJECT_NUMBER="$(gc projects describe "$PROJECT_ID" --format='value(projectNumber)')"
  PUBLIC_URL="https://${SERVICE}-${PROJECT_NUMBER}.${REGION}.run.app"
  note "PUBLIC_URL not set; using ${PUBLIC_URL} (resolves privately only with PSC + a private DNS zone)"
fi
TRUSTED="169.254.0.0/16"
if [ -n "$PROXY_SUBNET_CIDR" ]; then TRUSTED="${TRUSTED}, ${PROXY_SUBNET_CIDR}"; fi
DOMAINS="$(printf '%s' "$ALLOWED_EMAIL_DOMAINS" | sed 's/ //g; s/,/, /g')"

if [ -n "${GATEWAY_YAML:-}" ]; then
  CONFIG="$(cat "$GATEWAY_YAML")"
else
  # Secrets come from environment variables because Cloud Run mounts one secret per directory.
  CONFIG="$(cat <<EOF
# Rendered by deploy/gcp/setup.sh. Pass GATEWAY_YAML=your-file to manage it yourself.
listen:
  host: 0.0.0.0
  port: 8080
  public_url: ${PUBLIC_URL}
  trusted_proxies: [${TRUSTED}]
oidc:
  issuer: ${OIDC_ISSUER}
  client_id: ${OIDC_CLIENT_ID}
  client_secret: \${WEIR_OIDC_CLIENT_SECRET}
  allowed_email_domains: [${DOMAINS}]
${GOOGLE_OIDC_EXTRA}
session:
  jwt_secret:
    - \${WEIR_JWT_SECRET}
  ttl_hours: 1
store:
  postgres_url: \${WEIR_POSTGRES_URL}
  max_connections: ${MAX_CONNECTIONS}
upstreams:
  - provider: vertex
    region: ${VERTEX_REGION}
    project_id: ${PROJECT_ID}
    auth: {}
EOF
)"
fi
CURRENT="$(gc secrets versions access latest --secret="$SECRET_CONFIG" 2>/dev/null || true)"
if [ "$CURRENT" = "$CONFIG" ]; then
  note "$SECRET_CONFIG is up to date"
else
  printf '%s\n' "$CONFIG" | put_version "$SECRET_CONFIG"
fi

step "Cloud Run service ${SERVICE} (ingress ${INGRESS}, invoker ${INVOKER})"
# Deploying is itself idempotent: an unchanged spec yields no new behaviour, a changed one a new
# revision. CPU stays allocated between requests for Weir's background sweeps and metering flushes.
# Cloud Run allows 10 s between SIGTERM and SIGKILL, so the drain timeout is kept below that.
gc run deploy "$SERVICE" \
  --image="$IMAGE" --region="$REGION" --service-account="$SA_EMAIL" \
  --execution-environment=gen2 --no-cpu-throttling --cpu="$CPU" --memory="$MEMORY" \
  --min-instances=1 --max-instances="$MAX_INSTANCES" --concurrency="$CONCURRENCY" \
  --timeout=3600 --port=8080 \
  --ingress="$INGRESS" "$INVOKER_FLAG" \
  --network="$VPC" --subnet="$SUBNET" --vpc-egress=private-ranges-only \
  --args="serve,--config,/etc/weir/gateway.yaml,--workers,${WORKERS}" \
  --set-env-vars="CLAUDE_GATEWAY_LOG_LEVEL=info,CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS=8000" \
  --set-secrets="/etc/weir/gateway.yaml=${SECRET_CONFIG}:latest,WEIR_JWT_SECRET=${SECRET_JWT}:latest,WEIR_OIDC_CLIENT_SECRET=${SECRET_OIDC}:latest,WEIR_POSTGRES_URL=${SECRET_PG}:latest" \
  --startup-probe="httpGet.path=/readyz,httpGet.port=8080,periodSeconds=5,timeoutSeconds=3,failureThreshold=24" \
  --liveness-probe="httpGet.path=/healthz,httpGet.port=8080,periodSeconds=15,timeoutSeconds=3,failureThreshold=3"

step "Done"
note "Gateway URL (listen.public_url): ${PUBLIC_URL}"
note "Register ${PUBLIC_URL}/oauth/callback as the OAuth client's redirect URI."
note "Roll the URL out to developer machines:"
note "  node dist/bin/weir.js client-settings --url ${PUBLIC_URL} > managed-settings.json"
if [ "$INGRESS" = internal-and-cloud-load-balancing ]; then
  note "Next: an internal Application Load Balancer with a serverless NEG for ${SERVICE}, an internal"
  note "DNS name and certificate; then re-run with PUBLIC_URL=https://<that name> and PROXY_SUBNET_CIDR."
fi
