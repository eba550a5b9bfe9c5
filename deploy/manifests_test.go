package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/jobs"
)

// kustomization is the part of kustomize.config.k8s.io/v1beta1 Kustomization these manifests
// use; decoding is strict, so a field outside it fails the test (extend the struct on purpose).
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// object is one decoded manifest document.
type object struct {
	file string // relative to deploy/
	doc  int    // 0-based document index in the file
	kind string
	name string
	obj  any
}

func (o object) String() string { return fmt.Sprintf("%s#%d %s/%s", o.file, o.doc, o.kind, o.name) }

// kinds maps each kind these manifests may use to its apiVersion and a typed value to decode into.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Deployment":              {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"Service":                 {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount":          {"v1", func() any { return &corev1.ServiceAccount{} }},
	"PersistentVolumeClaim":   {"v1", func() any { return &corev1.PersistentVolumeClaim{} }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return &autoscalingv2.HorizontalPodAutoscaler{} }},
	"Job":                     {"batch/v1", func() any { return &batchv1.Job{} }},
	"CronJob":                 {"batch/v1", func() any { return &batchv1.CronJob{} }},
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeFile splits a multi-document YAML file and decodes each document strictly (unknown or
// duplicated fields fail) into the typed object of its kind.
func decodeFile(rel string, b []byte) ([]object, error) {
	var out []object
	for i, doc := range docSep.Split(string(b), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", rel, i, err)
		}
		k, ok := kinds[tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s document %d: kind %q is not one the test knows", rel, i, tm.Kind)
		}
		if tm.APIVersion != k.apiVersion {
			return nil, fmt.Errorf("%s document %d: %s is %s, not %s", rel, i, tm.Kind, k.apiVersion, tm.APIVersion)
		}
		v := k.new()
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			return nil, fmt.Errorf("%s document %d (%s): %w", rel, i, tm.Kind, err)
		}
		name := v.(metav1.Object).GetName()
		if name == "" {
			return nil, fmt.Errorf("%s document %d (%s): no metadata.name", rel, i, tm.Kind)
		}
		out = append(out, object{file: rel, doc: i, kind: tm.Kind, name: name, obj: v})
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// bundle is everything the kustomization ties together.
type bundle struct {
	k       kustomization
	cfg     *config.Config
	cfgName string // the generated ConfigMap
	objects []object
}

func load(t *testing.T) bundle {
	t.Helper()
	var b bundle
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &b.k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if b.k.APIVersion != "kustomize.config.k8s.io/v1beta1" || b.k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s", b.k.APIVersion, b.k.Kind)
	}
	if len(b.k.ConfigMapGenerator) != 1 || len(b.k.ConfigMapGenerator[0].Files) != 1 {
		t.Fatalf("kustomization.yaml: want one configMapGenerator with one file, got %+v", b.k.ConfigMapGenerator)
	}
	gen := b.k.ConfigMapGenerator[0]
	key, path, ok := strings.Cut(gen.Files[0], "=")
	if !ok || key != "paygw.yaml" {
		t.Fatalf("configMapGenerator file %q: want paygw.yaml=PATH", gen.Files[0])
	}
	b.cfgName = gen.Name
	if b.cfg, err = config.Load(path); err != nil {
		t.Fatalf("the ConfigMap's config: %v", err)
	}
	if err := jobs.Check(b.cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, rel := range b.k.Resources {
		raw, err := os.ReadFile(rel)
		if err != nil {
			t.Fatalf("kustomization resource: %v", err)
		}
		objs, err := decodeFile(rel, raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 {
			t.Errorf("%s: no objects", rel)
		}
		b.objects = append(b.objects, objs...)
	}
	return b
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	b := load(t)
	listed := map[string]bool{}
	for _, r := range b.k.Resources {
		if listed[r] {
			t.Errorf("resource %s listed twice", r)
		}
		listed[r] = true
	}
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		// monitoring/ holds Prometheus rules and a Grafana dashboard, loaded into those systems
		// rather than applied to the cluster (monitoring_test.go checks them).
		if p == "kustomization.yaml" || strings.HasPrefix(p, "config/") || strings.HasPrefix(p, "monitoring/") {
			return nil
		}
		if !listed[filepath.ToSlash(p)] {
			t.Errorf("%s is not a resource of kustomization.yaml", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]object{}
	for _, o := range b.objects {
		id := o.kind + "/" + o.name
		if prev, ok := seen[id]; ok {
			t.Errorf("%v and %v: same kind and name", prev, o)
		}
		seen[id] = o
		if ns := o.obj.(metav1.Object).GetNamespace(); ns != "" {
			t.Errorf("%v: namespace %q; the kustomization sets it", o, ns)
		}
	}
	// The example config for operators is the one deployed.
	dep, _ := os.ReadFile(strings.SplitN(b.k.ConfigMapGenerator[0].Files[0], "=", 2)[1])
	fix, err := os.ReadFile("../fixtures/config/production.yaml")
	if err != nil || !bytes.Equal(dep, fix) {
		t.Errorf("fixtures/config/production.yaml differs from the deployed config (%v)", err)
	}
}

// podSpec is a pod template found in a manifest.
type podSpec struct {
	where  string
	labels map[string]string
	spec   *corev1.PodSpec
}

func pods(objs []object) []podSpec {
	var out []podSpec
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, podSpec{o.String(), v.Spec.Template.Labels, &v.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, podSpec{o.String(), v.Spec.Template.Labels, &v.Spec.Template.Spec})
		case *batchv1.CronJob:
			out = append(out, podSpec{o.String(), v.Spec.JobTemplate.Spec.Template.Labels, &v.Spec.JobTemplate.Spec.Template.Spec})
		}
	}
	return out
}

// dockerEntrypoint reads the image's ENTRYPOINT from the Dockerfile.
func dockerEntrypoint(t *testing.T) []string {
	t.Helper()
	df := parseDockerfile(t)
	return df.entrypoint
}

func TestPodsAreHardenedAndAgree(t *testing.T) {
	b := load(t)
	if len(b.k.Images) != 1 {
		t.Fatalf("kustomization images: want one, got %d", len(b.k.Images))
	}
	wantImage := b.k.Images[0].Name + ":" + b.k.Images[0].NewTag
	entry := dockerEntrypoint(t)
	ps := pods(b.objects)
	if len(ps) == 0 {
		t.Fatal("no pod templates")
	}
	for _, p := range ps {
		s := p.spec
		sc := s.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: pod securityContext must set runAsNonRoot: true and a non-zero runAsUser", p.where)
		}
		if sc != nil && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			t.Errorf("%s: seccompProfile RuntimeDefault", p.where)
		}
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false", p.where)
		}
		vols := map[string]corev1.Volume{}
		for _, v := range s.Volumes {
			vols[v.Name] = v
		}
		if len(s.Containers) != 1 || len(s.InitContainers) != 0 {
			t.Errorf("%s: want exactly one container", p.where)
			continue
		}
		c := s.Containers[0]
		if c.Image != wantImage {
			t.Errorf("%s: image %q, want %q (kustomization images)", p.where, c.Image, wantImage)
		}
		if len(c.Command) != 0 && !slices.Equal(c.Command, entry) {
			t.Errorf("%s: command %q overrides the image ENTRYPOINT %q", p.where, c.Command, entry)
		}
		cs := c.SecurityContext
		if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
			cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
			cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: container securityContext must be readOnlyRootFilesystem, no privilege escalation, drop ALL", p.where)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: set cpu and memory requests and a memory limit", p.where)
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			if _, ok := vols[m.Name]; !ok {
				t.Errorf("%s: volumeMount %s has no volume", p.where, m.Name)
			}
			mounts[m.MountPath] = m
		}
		if m, ok := mounts["/tmp"]; !ok || vols[m.Name].EmptyDir == nil {
			t.Errorf("%s: /tmp must be an emptyDir (read-only root filesystem)", p.where)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: env %s twice", p.where, e.Name)
			}
			env[e.Name] = e
		}
		for _, name := range []string{"PAYGW_DB", "PAYGW_SECRET_KEY"} {
			if e, ok := env[name]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
				t.Errorf("%s: %s must come from a Secret", p.where, name)
			}
		}
		cfgPath := env["PAYGW_CONFIG"].Value
		m, ok := mounts[filepath.Dir(cfgPath)]
		if !ok || filepath.Base(cfgPath) != "paygw.yaml" || vols[m.Name].ConfigMap == nil ||
			vols[m.Name].ConfigMap.Name != b.cfgName || !m.ReadOnly {
			t.Errorf("%s: PAYGW_CONFIG=%q must be paygw.yaml of ConfigMap %s mounted read-only", p.where, cfgPath, b.cfgName)
		}
		checkCommandLine(t, p.where, c.Args, env)
	}
}

// checkCommandLine parses args with the real command tree: an unknown command or flag, a bad
// value or a wrong argument count fails, as does a PAYGW_* variable that is no flag's twin.
func checkCommandLine(t *testing.T, where string, args []string, env map[string]corev1.EnvVar) {
	t.Helper()
	root := cli.NewRoot(&cli.App{})
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: args %q: no such command (%v)", where, args, err)
		return
	}
	if !cmd.Runnable() {
		t.Errorf("%s: args %q: %q is not a runnable command", where, args, cmd.CommandPath())
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: args %q: %v", where, args, err)
		return
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Errorf("%s: args %q: %v", where, args, err)
	}
	twins := map[string]bool{"PAYGW_SECRET_KEY": true, "PAYGW_TRIGGER": true} // read directly, not flags
	for _, f := range flagNames(cmd) {
		twins[cli.EnvName(f)] = true
	}
	for name := range env {
		if strings.HasPrefix(name, "PAYGW_") && !twins[name] {
			t.Errorf("%s: env %s is not a flag of %q", where, name, cmd.CommandPath())
		}
	}
}

func TestCronJobsMatchJobDefinitions(t *testing.T) {
	b := load(t)
	defs := jobs.Definitions(b.cfg)
	byName := map[string]*batchv1.CronJob{}
	for _, o := range b.objects {
		cj, ok := o.obj.(*batchv1.CronJob)
		if !ok {
			continue
		}
		if !strings.HasPrefix(o.file, "cronjobs/") {
			t.Errorf("%v: CronJobs live in deploy/cronjobs/", o)
		}
		name := cj.Labels["paygw.dev/job"]
		if _, ok := jobs.Find(defs, name); !ok {
			t.Errorf("%v: label paygw.dev/job=%q names no job (jobs: %v)", o, name, jobNames(defs))
			continue
		}
		if byName[name] != nil {
			t.Errorf("%v: a second CronJob for job %s", o, name)
		}
		if o.file != "cronjobs/"+name+".yaml" || cj.Name != "paygw-"+name {
			t.Errorf("%v: job %s belongs in cronjobs/%s.yaml named paygw-%s", o, name, name, name)
		}
		byName[name] = cj
	}
	for _, def := range defs {
		cj := byName[def.Name]
		if cj == nil {
			t.Errorf("job %s (%s) has no CronJob in deploy/cronjobs/", def.Name, def.CommandLine())
			continue
		}
		where := "CronJob " + cj.Name
		s := cj.Spec
		if s.Schedule != def.Schedule {
			t.Errorf("%s: schedule %q, job definition %q", where, s.Schedule, def.Schedule)
		}
		if s.TimeZone == nil || *s.TimeZone != b.cfg.Timezone {
			t.Errorf("%s: timeZone %v, want the config's %s", where, s.TimeZone, b.cfg.Timezone)
		}
		if _, err := time.LoadLocation(b.cfg.Timezone); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("%s: concurrencyPolicy %q, want Forbid", where, s.ConcurrencyPolicy)
		}
		if s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds <= 0 ||
			s.SuccessfulJobsHistoryLimit == nil || s.FailedJobsHistoryLimit == nil || *s.FailedJobsHistoryLimit == 0 {
			t.Errorf("%s: set startingDeadlineSeconds and both history limits", where)
		}
		js := s.JobTemplate.Spec
		if js.BackoffLimit == nil || js.ActiveDeadlineSeconds == nil || *js.ActiveDeadlineSeconds <= 0 {
			t.Errorf("%s: set backoffLimit and activeDeadlineSeconds", where)
		}
		pod := js.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
			t.Errorf("%s: restartPolicy %q", where, pod.RestartPolicy)
		}
		c := pod.Containers[0]
		want := def.Args
		if js.CompletionMode != nil && *js.CompletionMode == batchv1.IndexedCompletion {
			if !def.Shardable {
				t.Errorf("%s: Indexed, but job %s cannot be sharded", where, def.Name)
			}
			if js.Completions == nil || js.Parallelism == nil || *js.Completions != *js.Parallelism || *js.Completions < 2 {
				t.Errorf("%s: an Indexed Job needs completions = parallelism ≥ 2", where)
			} else {
				want = append(slices.Clone(def.Args), "--shards", strconv.Itoa(int(*js.Completions)))
			}
		}
		if !slices.Equal(c.Args, want) {
			t.Errorf("%s: args %q, job definition %q", where, c.Args, want)
		}
		var trigger string
		for _, e := range c.Env {
			if e.Name == "PAYGW_TRIGGER" {
				trigger = e.Value
			}
		}
		if trigger != "cronjob" {
			t.Errorf("%s: PAYGW_TRIGGER=%q, want cronjob", where, trigger)
		}
		// Reports land on the PersistentVolumeClaim: the config's out dirs are under its mount.
		var reports string
		vols := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			vols[v.Name] = v
		}
		for _, m := range c.VolumeMounts {
			if v := vols[m.Name]; v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "paygw-reports" && !m.ReadOnly {
				reports = m.MountPath
			}
		}
		for key, dir := range map[string]string{"reconcile.out_dir": b.cfg.Reconcile.OutDir, "settle.out_dir": b.cfg.Settle.OutDir} {
			if reports == "" || !strings.HasPrefix(dir+"/", reports+"/") {
				t.Errorf("%s: config %s=%q is not on the reports volume (mounted at %q)", where, key, dir, reports)
			}
		}
	}
}

func TestGatewayAndWorker(t *testing.T) {
	b := load(t)
	get := func(kind, name string) any {
		for _, o := range b.objects {
			if o.kind == kind && o.name == name {
				return o.obj
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return nil
	}
	gw := get("Deployment", "paygw-gateway").(*appsv1.Deployment)
	svc := get("Service", "paygw-gateway").(*corev1.Service)
	pdb := get("PodDisruptionBudget", "paygw-gateway").(*policyv1.PodDisruptionBudget)
	hpa := get("HorizontalPodAutoscaler", "paygw-gateway").(*autoscalingv2.HorizontalPodAutoscaler)
	worker := get("Deployment", "paygw-worker").(*appsv1.Deployment)
	migrate := get("Job", "paygw-migrate").(*batchv1.Job)

	c := gw.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "serve") || flagValue(c.Args, "--role") != "api" {
		t.Errorf("gateway args %q: want serve --role api", c.Args)
	}
	probe := func(p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("gateway: want an HTTP probe on %s, got %+v", path, p)
			return
		}
		port := p.HTTPGet.Port.String()
		ok := false
		for _, cp := range c.Ports {
			ok = ok || cp.Name == port || strconv.Itoa(int(cp.ContainerPort)) == port
			if addr := flagValue(c.Args, "--addr"); cp.Name == port && addr != ":"+strconv.Itoa(int(cp.ContainerPort)) {
				t.Errorf("gateway: --addr %q but port %s is %d", addr, port, cp.ContainerPort)
			}
		}
		if !ok {
			t.Errorf("gateway: probe port %s is not a container port", port)
		}
	}
	probe(c.ReadinessProbe, "/readyz")
	probe(c.LivenessProbe, "/healthz")
	// Termination: preStop sleep, then the drain of server.shutdown_timeout, within the grace period.
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if preStop <= 0 {
		t.Error("gateway: want a preStop sleep so endpoints drop the pod before the drain")
	}
	grace := gw.Spec.Template.Spec.TerminationGracePeriodSeconds
	if need := preStop + b.cfg.Server.ShutdownTimeout.D(); grace == nil || time.Duration(*grace)*time.Second <= need {
		t.Errorf("gateway: terminationGracePeriodSeconds %v must exceed preStop %s + server.shutdown_timeout %s",
			grace, preStop, b.cfg.Server.ShutdownTimeout.D())
	}
	labels := gw.Spec.Template.Labels
	sel, err := metav1.LabelSelectorAsMap(gw.Spec.Selector)
	if err != nil || !subset(sel, labels) {
		t.Errorf("gateway: selector %v does not select its pods %v", sel, labels)
	}
	if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, labels) || subset(svc.Spec.Selector, worker.Spec.Template.Labels) {
		t.Errorf("service selector %v must select gateway pods only", svc.Spec.Selector)
	}
	for _, sp := range svc.Spec.Ports {
		if sp.TargetPort.String() != "http" {
			t.Errorf("service port %s targets %s", sp.Name, sp.TargetPort.String())
		}
	}
	if m, err := metav1.LabelSelectorAsMap(pdb.Spec.Selector); err != nil || !subset(m, labels) {
		t.Errorf("gateway PDB selector %v does not select gateway pods", m)
	}
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != gw.Name || hpa.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v", hpa.Spec.ScaleTargetRef)
	}
	if hpa.Spec.MinReplicas == nil || gw.Spec.Replicas == nil || *gw.Spec.Replicas != *hpa.Spec.MinReplicas ||
		hpa.Spec.MaxReplicas <= *hpa.Spec.MinReplicas {
		t.Errorf("gateway replicas %v must equal the HPA's minReplicas %v (< maxReplicas %d)", gw.Spec.Replicas, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if pdb.Spec.MinAvailable != nil && hpa.Spec.MinReplicas != nil && pdb.Spec.MinAvailable.IntValue() >= int(*hpa.Spec.MinReplicas) {
		t.Errorf("gateway PDB minAvailable %s blocks every eviction at minReplicas %d", pdb.Spec.MinAvailable.String(), *hpa.Spec.MinReplicas)
	}
	wc := worker.Spec.Template.Spec.Containers[0]
	if !slices.Contains(wc.Args, "serve") || flagValue(wc.Args, "--role") != "worker" {
		t.Errorf("worker args %q: want serve --role worker", wc.Args)
	}
	if !slices.Equal(migrate.Spec.Template.Spec.Containers[0].Args, []string{"migrate", "up"}) {
		t.Errorf("migration job args %q", migrate.Spec.Template.Spec.Containers[0].Args)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	raw, err := os.ReadFile("cronjobs/settle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"misspelt field", "concurrencyPolicy:", "concurrencyPolicyy:"},
		{"duplicated key", "  schedule:", "  schedule: \"1 1 * * *\"\n  schedule:"},
	} {
		bad := strings.Replace(string(raw), tc.from, tc.to, 1)
		if _, err := decodeFile("settle.yaml", []byte(bad)); err == nil {
			t.Errorf("%s: decoded without error", tc.name)
		}
	}
}

// flagNames lists the flags a command accepts, its own and inherited.
func flagNames(cmd *cobra.Command) []string {
	var names []string
	add := func(f *pflag.Flag) { names = append(names, f.Name) }
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return names
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func jobNames(defs []jobs.Job) []string {
	var ns []string
	for _, d := range defs {
		ns = append(ns, d.Name)
	}
	sort.Strings(ns)
	return ns
}
