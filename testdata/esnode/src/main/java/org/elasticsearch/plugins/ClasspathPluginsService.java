package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.common.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link PluginsService} whose plugins are classes already on the JVM class path instead of
 * bundles unpacked under {@code modules/} and {@code plugins/}. It lives in Elasticsearch's own
 * package because {@link PluginsService.LoadedPlugin} is package-private; this is the same
 * technique Elasticsearch's test framework uses to start nodes with class-path plugins.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    /**
     * Instantiates every plugin class with the node settings, the way Elasticsearch instantiates a
     * bundled module, and wires extensible plugins to their extensions.
     */
    public ClasspathPluginsService(Settings settings, Path configPath, Collection<Class<? extends Plugin>> pluginClasses) {
        super(settings, configPath, PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "class-path plugin " + pluginClass.getName(),
                Build.current().version(),
                Build.current().version(),
                "17",
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false
            );
            Plugin instance = loadPlugin(pluginClass, settings, configPath);
            loaded.add(new LoadedPlugin(descriptor, instance, pluginClass.getClassLoader()));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
