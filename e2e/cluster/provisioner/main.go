// provisioner gives the e2e cluster dynamic PersistentVolumes. It runs on the node's machine, beside
// kubelet, started by e2e/cluster/up. For every claim of a StorageClass whose provisioner is --name, once
// the scheduler has chosen the claim's node (volumeBindingMode WaitForFirstConsumer) and the
// PersistentVolume controller has handed the claim to this provisioner, it makes a directory under
// --volumes-dir and a PersistentVolume of type `local` for that directory, pinned to the node and
// pre-bound to the claim. When such a volume is Released and its reclaim policy is Delete, it removes the
// directory and the volume.
//
// A `local` volume and not a `hostPath` one: kubelet applies a pod's fsGroup to local volumes (group
// ownership, g+rwx, setgid) as it does to network block storage, and never to hostPath volumes, so pods
// that run as a non-root user with an fsGroup behave here as on a real cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	storagev1client "k8s.io/client-go/kubernetes/typed/storage/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// The annotations of the provisioning protocol between the scheduler, the PersistentVolume controller
// and an external provisioner (what sig-storage-lib-external-provisioner reads and writes).
const (
	// Set on a claim by the PersistentVolume controller when no existing volume matches it and the
	// claim's class names an external provisioner: from then on the claim is that provisioner's to serve.
	annStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	annBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// Set on a claim by the scheduler, for WaitForFirstConsumer classes: the node of its first pod.
	annSelectedNode = "volume.kubernetes.io/selected-node"
	// Set on a volume by its provisioner: the PersistentVolume controller leaves the deletion of a
	// volume with a provisioner name that is not in-tree to that provisioner.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
)

// A work item: a claim ("namespace/name") or a volume ("name") to look at.
type item struct {
	volume bool
	key    string
}

type provisioner struct {
	name       string
	node       string
	volumesDir string
	client     corev1client.CoreV1Interface
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	queue      workqueue.TypedRateLimitingInterface[item]
	events     record.EventRecorder
	log        *slog.Logger
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	name := flag.String("name", "arbor.dev/e2e-local", "provisioner name, as StorageClasses name it")
	node := flag.String("node", "", "name of the node this machine is (required): claims selected for another node are not served")
	volumesDir := flag.String("volumes-dir", "", "directory that holds one directory per volume (required, absolute)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// client-go logs through klog: the same one-line key=value records.
	klog.SetSlogLogger(log)
	if *kubeconfig == "" || *node == "" || !filepath.IsAbs(*volumesDir) {
		log.Error("usage: provisioner --kubeconfig FILE --node NODE --volumes-dir /ABSOLUTE/DIR [--name NAME]")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *name, *node, filepath.Clean(*volumesDir), log); err != nil {
		log.Error("provisioner stopped", "err", err)
		os.Exit(1)
	}
}

func run(kubeconfig, name, node, volumesDir string, log *slog.Logger) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	config.UserAgent = "arbor-e2e-provisioner"
	// The typed clients of the two API groups it reads, and informers of its own: client-go's Clientset
	// and informer factory bring every API group's client, a third more packages to compile (714, not 496).
	core, err := corev1client.NewForConfig(config)
	if err != nil {
		return err
	}
	storage, err := storagev1client.NewForConfig(config)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(volumesDir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: core.Events("")})
	defer broadcaster.Shutdown()

	claimInformer := informer(core.RESTClient(), "persistentvolumeclaims", &v1.PersistentVolumeClaim{})
	volumeInformer := informer(core.RESTClient(), "persistentvolumes", &v1.PersistentVolume{})
	classInformer := informer(storage.RESTClient(), "storageclasses", &storagev1.StorageClass{})
	p := &provisioner{
		name:       name,
		node:       node,
		volumesDir: volumesDir,
		client:     core,
		claims:     corelisters.NewPersistentVolumeClaimLister(claimInformer.GetIndexer()),
		volumes:    corelisters.NewPersistentVolumeLister(volumeInformer.GetIndexer()),
		classes:    storagelisters.NewStorageClassLister(classInformer.GetIndexer()),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[item](),
			workqueue.TypedRateLimitingQueueConfig[item]{Name: "provisioner"}),
		events: broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "arbor-e2e-provisioner"}),
		log:    log,
	}
	defer p.queue.ShutDown()
	enqueue := func(volume bool) cache.ResourceEventHandlerFuncs {
		add := func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				p.queue.Add(item{volume: volume, key: key})
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj any) { add(obj) }}
	}
	if _, err := claimInformer.AddEventHandler(enqueue(false)); err != nil {
		return err
	}
	if _, err := volumeInformer.AddEventHandler(enqueue(true)); err != nil {
		return err
	}
	for _, i := range []cache.SharedIndexInformer{claimInformer, volumeInformer, classInformer} {
		go i.Run(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), claimInformer.HasSynced, volumeInformer.HasSynced, classInformer.HasSynced) {
		return errors.New("stopped before the caches were filled")
	}
	log.Info("started", "provisioner", name, "node", node, "volumesDir", volumesDir)

	go func() {
		<-ctx.Done()
		p.queue.ShutDown()
	}()
	// One worker: a claim or a volume is never handled twice at the same time.
	for p.next(ctx) {
	}
	log.Info("stopped")
	return nil
}

// informer watches all objects of one resource. Its resync re-examines every one of them now and then:
// a retry for whatever an event missed.
func informer(client rest.Interface, resource string, object runtime.Object) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(cache.NewListWatchFromClient(client, resource, metav1.NamespaceAll, fields.Everything()),
		object, time.Minute, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

func (p *provisioner) next(ctx context.Context) bool {
	it, shutdown := p.queue.Get()
	if shutdown {
		return false
	}
	defer p.queue.Done(it)
	var err error
	if it.volume {
		err = p.syncVolume(ctx, it.key)
	} else {
		err = p.syncClaim(ctx, it.key)
	}
	if err != nil {
		p.log.Warn("will retry", "volume", it.volume, "key", it.key, "err", err)
		p.queue.AddRateLimited(it)
		return true
	}
	p.queue.Forget(it)
	return true
}

// syncClaim makes the volume of a claim that waits for this provisioner, unless it exists.
func (p *provisioner) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if !p.waitsForUs(claim) {
		return nil
	}
	node := claim.Annotations[annSelectedNode]
	if node != p.node {
		p.log.Warn("claim selected for another node: not served", "claim", key, "node", node)
		return nil
	}
	class, err := p.classes.Get(*claim.Spec.StorageClassName)
	if err != nil {
		return fmt.Errorf("storage class %s: %w", *claim.Spec.StorageClassName, err)
	}
	// The name follows from the claim, so a restarted provisioner finds the volume it made before.
	pvName := "pvc-" + string(claim.UID)
	if _, err := p.volumes.Get(pvName); err == nil {
		return nil
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		p.failed(claim, "volumeMode Block: this provisioner makes directories, only Filesystem volumes")
		return nil
	}
	size, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		p.failed(claim, "the claim requests no storage size")
		return nil
	}
	hostname, err := p.hostnameLabel(ctx, node)
	if err != nil {
		return err
	}
	dir := filepath.Join(p.volumesDir, pvName)
	// 0755 root:root, as the root of a fresh ext4 file system: a non-root pod writes to it only through
	// its fsGroup, which kubelet applies when it mounts the volume.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        pvName,
			Annotations: map[string]string{annProvisionedBy: p.name},
		},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaimPolicy(class),
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &v1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{hostname},
				}},
			}}}},
		},
	}
	if _, err := p.client.PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		return nil // made a moment ago, not yet in the informer's cache
	} else if err != nil {
		return err
	}
	p.log.Info("provisioned", "claim", key, "volume", pvName, "path", dir, "capacity", size.String(), "node", node,
		"reclaimPolicy", pv.Spec.PersistentVolumeReclaimPolicy)
	p.events.Eventf(claim, v1.EventTypeNormal, "ProvisioningSucceeded", "volume %s in %s on node %s", pvName, dir, node)
	return nil
}

// waitsForUs: the claim is unbound, the PersistentVolume controller found no existing volume for it
// and handed it to this provisioner, and the scheduler chose its node.
func (p *provisioner) waitsForUs(claim *v1.PersistentVolumeClaim) bool {
	handedTo := claim.Annotations[annStorageProvisioner]
	if handedTo == "" {
		handedTo = claim.Annotations[annBetaStorageProvisioner]
	}
	return handedTo == p.name && claim.Spec.VolumeName == "" && claim.DeletionTimestamp == nil &&
		claim.Status.Phase == v1.ClaimPending && claim.Spec.StorageClassName != nil &&
		claim.Annotations[annSelectedNode] != ""
}

// hostnameLabel is the node's kubernetes.io/hostname, which a volume's node affinity names.
func (p *provisioner) hostnameLabel(ctx context.Context, node string) (string, error) {
	n, err := p.client.Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("node %s: %w", node, err)
	}
	if hostname := n.Labels[v1.LabelHostname]; hostname != "" {
		return hostname, nil
	}
	return node, nil
}

func (p *provisioner) failed(claim *v1.PersistentVolumeClaim, why string) {
	p.log.Warn("not provisioned", "claim", claim.Namespace+"/"+claim.Name, "reason", why)
	p.events.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", why)
}

func reclaimPolicy(class *storagev1.StorageClass) v1.PersistentVolumeReclaimPolicy {
	if class.ReclaimPolicy != nil {
		return *class.ReclaimPolicy
	}
	return v1.PersistentVolumeReclaimDelete
}

// syncVolume deletes a volume this provisioner made once its claim is gone and its policy says Delete:
// first the directory, then the PersistentVolume (so a failure leaves the volume to retry with).
func (p *provisioner) syncVolume(ctx context.Context, name string) error {
	pv, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if pv.Annotations[annProvisionedBy] != p.name || pv.Status.Phase != v1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return nil
	}
	dir := filepath.Join(p.volumesDir, pv.Name)
	if pv.Spec.Local == nil || pv.Spec.Local.Path != dir {
		p.log.Warn("volume names this provisioner but not a directory it makes: left alone", "volume", name)
		return nil
	}
	// RemoveAll would descend into a file system mounted below the directory and empty it.
	if mounts, err := mountsBelow(dir); err != nil {
		return err
	} else if len(mounts) > 0 {
		return fmt.Errorf("%s has mounts below it (%s): not removed yet", dir, strings.Join(mounts, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The UID precondition: never the volume of another claim made since under the same name.
	uid := pv.UID
	err = p.client.PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	claim := "(none)"
	if pv.Spec.ClaimRef != nil {
		claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
	}
	p.log.Info("deleted", "volume", name, "path", dir, "claim", claim)
	return nil
}

// mountsBelow lists the mount points at or below dir (from /proc/self/mountinfo, whose fifth field is
// the mount point, with spaces and other special characters escaped as octal).
func mountsBelow(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var below []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := unescapeOctal(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			below = append(below, point)
		}
	}
	return below, nil
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
