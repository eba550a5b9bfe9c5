// Package deploy holds paygw's Kubernetes manifests (a kustomization: the gateway and worker
// Deployments, the migration Job, one CronJob per job of package jobs) and the Dockerfile checks.
// It has no code of its own: its tests decode every manifest strictly into the Kubernetes API
// types and check it against the job definitions, the CLI's command tree and the config.
package deploy
